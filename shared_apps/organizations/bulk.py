"""Bulk migrate and move: long work on many organizations, done by jobs and reported per organization.

`bulk_operation_start` checks the request (the confirmed count, the target database), records a
`BulkOperation` with every organization `pending`, audits the request on each organization, and enqueues
the work after commit: one job migrating the chosen organizations with the migrate_organizations machinery
(public and the template first, then only the chosen schemas that are behind, one migration loader for
them all), or one job per organization moving it (shared_apps.organizations.moving, as `org_move` does).
Each job writes its organizations' outcomes into the operation's `results` as they come; jobs are safe to
run twice (a migrated schema is level, a moved organization is `already_there`).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from shared_apps.core.errors import AppError, InvalidInput, NotFound
from shared_apps.organizations import placement
from shared_apps.organizations.jobs import get_queue
from shared_apps.organizations.models import (
    BulkOperation,
    BulkOperationStatus,
    Organization,
    OrganizationStatus,
)
from shared_apps.organizations.services import platform_audit

JOB_ACTIONS = ("migrate", "move")
BULK_MAX = 500
QUEUE = "low"
# a move copies a whole schema; a migrate run may apply migrations to hundreds of schemas
JOB_TIMEOUT = 6 * 3600


class BulkOperationNotFound(NotFound):
    code = "bulk_operation_not_found"
    message = "No such bulk operation."


def _chosen(slugs: list[str], confirm: int) -> list[str]:
    slugs = list(dict.fromkeys(slugs))
    if not slugs or len(slugs) > BULK_MAX:
        raise InvalidInput("slugs", f"From 1 to {BULK_MAX} organization slugs.")
    if confirm != len(slugs):
        raise InvalidInput("confirm", f"Repeat the number of organizations named ({len(slugs)}) to confirm.")
    return slugs


def bulk_operation_start(
    *,
    action: str,
    slugs: list[str],
    confirm: int,
    operator: Any = None,
    to: str | None = None,
    plan: str | None = None,
    request: HttpRequest | None = None,
) -> BulkOperation:
    """Record and enqueue a bulk migrate or move (`to`: the target database) of the named live
    organizations; unknown slugs are reported failed at once, the others `pending` until their job ends."""
    if action not in JOB_ACTIONS:
        raise InvalidInput("action", f"One of {', '.join(JOB_ACTIONS)}.")
    slugs = _chosen(slugs, confirm)
    parameters: dict[str, Any] = {}
    if action == "move":
        if not to:
            raise InvalidInput("to", "The database to move them to.", code="required")
        parameters["to"] = placement.validate_database(to, field="to")
    live = {
        organization.slug: organization
        for organization in Organization.objects.filter(slug__in=slugs).exclude(
            status__in=[OrganizationStatus.DELETED, OrganizationStatus.TEMPLATE]
        )
    }
    results: dict[str, dict[str, Any]] = {
        slug: {"status": "pending"}
        if slug in live
        else {"status": "failed", "code": "organization_not_found", "message": "No such organization."}
        for slug in slugs
    }
    with transaction.atomic():
        operation = BulkOperation.objects.create(
            action=action,
            parameters=parameters,
            operator_email=getattr(operator, "email", "") or "",
            results=results,
            status=BulkOperationStatus.QUEUED if live else BulkOperationStatus.FINISHED,
            finished_at=None if live else timezone.now(),
        )
        verb = "organization.migration_queued" if action == "migrate" else "organization.move_queued"
        for organization in live.values():
            changes = {"operation": operation.pk, **parameters}
            if action == "move":
                changes["database"] = [organization.database, parameters["to"]]
            platform_audit(verb, organization=organization, request=request, changes=changes)
        queue = get_queue(QUEUE)
        if action == "migrate" and live:
            queue.enqueue(
                "shared_apps.organizations.bulk.bulk_migrate_job", operation.pk, job_timeout=JOB_TIMEOUT
            )
        elif action == "move":
            for slug in live:
                queue.enqueue(
                    "shared_apps.organizations.bulk.bulk_move_job",
                    operation.pk,
                    slug,
                    job_timeout=JOB_TIMEOUT,
                )
    return operation


def bulk_operation_get(*, operation_id: int) -> BulkOperation:
    operation = BulkOperation.objects.filter(pk=operation_id).first()
    if operation is None:
        raise BulkOperationNotFound(id=operation_id)
    return operation


def bulk_operations_recent(limit: int = 20) -> list[BulkOperation]:
    return list(BulkOperation.objects.all()[:limit])


def _report(operation_id: int, outcomes: dict[str, dict[str, Any]]) -> None:
    """Merge organizations' outcomes into the operation's results (under the row's lock: concurrent move
    jobs of one operation each add their own), and mark it finished when none is pending."""
    with transaction.atomic():
        operation = BulkOperation.objects.select_for_update().get(pk=operation_id)
        operation.results = {**operation.results, **outcomes}
        if all(result.get("status") != "pending" for result in operation.results.values()):
            operation.status = BulkOperationStatus.FINISHED
            operation.finished_at = operation.finished_at or timezone.now()
        else:
            operation.status = BulkOperationStatus.RUNNING
        operation.save(update_fields=["results", "status", "finished_at"])


def _pending(operation: BulkOperation) -> list[Organization]:
    slugs = [slug for slug, result in operation.results.items() if result.get("status") == "pending"]
    return list(
        Organization.objects.filter(slug__in=slugs)
        .exclude(status__in=[OrganizationStatus.DELETED, OrganizationStatus.TEMPLATE])
        .order_by("id")
    )


def bulk_migrate_job(operation_id: int) -> dict[str, dict[str, Any]]:
    """Bring the operation's pending organizations to the latest migrations (public and the template of
    their databases first), report each, and audit each one migrated."""
    from shared_apps.organizations.migrating import migrate_chosen

    operation = bulk_operation_get(operation_id=operation_id)
    organizations = _pending(operation)
    BulkOperation.objects.filter(pk=operation_id).update(status=BulkOperationStatus.RUNNING)
    outcomes = migrate_chosen(organizations)
    by_slug = {organization.slug: organization for organization in organizations}
    for slug, outcome in outcomes.items():
        if outcome["status"] == "done" and outcome.get("migrated"):
            platform_audit(
                "organization.migrated",
                organization=by_slug[slug],
                request=None,
                changes={"operation": operation_id},
            )
    missing = {
        slug: {"status": "failed", "code": "organization_not_found", "message": "No such organization."}
        for slug, result in operation.results.items()
        if result.get("status") == "pending" and slug not in outcomes
    }
    _report(operation_id, {**outcomes, **missing})
    return outcomes


def bulk_move_job(operation_id: int, slug: str) -> dict[str, Any]:
    """Move one organization of the operation to its target database (the move audits itself)."""
    from shared_apps.organizations.moving import organization_move

    operation = bulk_operation_get(operation_id=operation_id)
    if operation.results.get(slug, {}).get("status") != "pending":
        return dict(operation.results.get(slug, {}))  # delivered twice: already reported
    organization = (
        Organization.objects.filter(slug=slug)
        .exclude(status__in=[OrganizationStatus.DELETED, OrganizationStatus.TEMPLATE])
        .first()
    )
    outcome: dict[str, Any]
    if organization is None:
        outcome = {"status": "failed", "code": "organization_not_found", "message": "No such organization."}
    else:
        BulkOperation.objects.filter(pk=operation_id).update(status=BulkOperationStatus.RUNNING)
        try:
            report = organization_move(organization=organization, to=operation.parameters["to"])
        except AppError as error:
            outcome = {"status": "failed", "code": error.code, "message": error.message}
        except Exception as error:  # reported, and the next organizations still move
            outcome = {
                "status": "failed",
                "code": "move_failed",
                "message": f"{type(error).__name__}: {error}",
            }
        else:
            outcome = {
                "status": "done",
                "database": report.target,
                "rows": report.rows,
                "frozen_seconds": round(report.frozen_seconds, 3),
            }
    _report(operation_id, {slug: outcome})
    return outcome
