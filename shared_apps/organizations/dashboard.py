"""The platform at a glance and bulk actions, for operators (`/api/platform/dashboard/`,
`/api/platform/organizations-bulk/`). The dashboard reads the public schema with a fixed number of grouped
queries, whatever the number of organizations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncWeek
from django.http import HttpRequest
from django.utils import timezone

from shared_apps.core.errors import AppError, InvalidInput
from shared_apps.organizations.models import Organization, OrganizationStatus, OrganizationUsage

SIGN_UP_WEEKS = 12
NOISIEST = 10
BULK_MAX = 500
BULK_ACTIONS = ("suspend", "resume", "change_plan")


def platform_dashboard() -> dict[str, Any]:
    """Organizations by status and by plan, sign-ups per week (the last SIGN_UP_WEEKS), the organizations with
    the most API requests, errors and job time over 30 days, and those with failing webhooks and jobs (all
    from the collected usage): a fixed number of grouped queries on the public schema."""
    live = Organization.objects.exclude(status=OrganizationStatus.TEMPLATE)
    by_status = dict(live.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    by_plan = dict(
        live.exclude(status=OrganizationStatus.DELETED)
        .values_list("plan")
        .annotate(n=Count("id"))
        .values_list("plan", "n")
    )
    since = timezone.now() - timedelta(weeks=SIGN_UP_WEEKS)
    weeks = (
        live.filter(created_at__gte=since)
        .annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(n=Count("id"))
        .order_by("week")
    )
    usage = OrganizationUsage.objects.select_related("organization").exclude(
        organization__status__in=[OrganizationStatus.DELETED, OrganizationStatus.TEMPLATE]
    )
    noisy = usage.order_by("-api_requests_30d", "id")[:NOISIEST]
    errors = usage.filter(api_5xx_30d__gt=0).order_by("-api_5xx_30d", "id")[:NOISIEST]
    job_time = usage.filter(job_seconds_30d__gt=0).order_by("-job_seconds_30d", "id")[:NOISIEST]
    failing_webhooks = usage.filter(webhook_failures_30d__gt=0).order_by("-webhook_failures_30d", "id")[
        :NOISIEST
    ]
    failing_jobs = usage.filter(failed_jobs__gt=0).order_by("-failed_jobs", "id")[:NOISIEST]
    totals = usage.aggregate(
        requests=Sum("api_requests_30d"),
        errors=Sum("api_5xx_30d"),
        webhook_failures=Sum("webhook_failures_30d"),
        failed_jobs=Sum("failed_jobs"),
        job_seconds=Sum("job_seconds_30d"),
        behind=Count("id", filter=Q(migrations_pending__gt=0)),
    )
    return {
        "organizations_by_status": by_status,
        "organizations_by_plan": by_plan,
        "sign_ups_by_week": [{"week": row["week"].date().isoformat(), "count": row["n"]} for row in weeks],
        "noisiest": [
            {
                "slug": row.organization.slug,
                "name": row.organization.name,
                "requests_30d": row.api_requests_30d,
                "4xx_30d": row.api_4xx_30d,
                "5xx_30d": row.api_5xx_30d,
            }
            for row in noisy
        ],
        "most_errors": [{"slug": row.organization.slug, "5xx_30d": row.api_5xx_30d} for row in errors],
        "most_job_time": [
            {"slug": row.organization.slug, "job_seconds_30d": round(row.job_seconds_30d, 1)}
            for row in job_time
        ],
        "failing_webhooks": [
            {"slug": row.organization.slug, "webhook_failures_30d": row.webhook_failures_30d}
            for row in failing_webhooks
        ],
        "failing_jobs": [
            {"slug": row.organization.slug, "failed_jobs": row.failed_jobs} for row in failing_jobs
        ],
        "api_requests_30d": totals["requests"] or 0,
        "api_5xx_30d": totals["errors"] or 0,
        "webhook_failures_30d": totals["webhook_failures"] or 0,
        "failed_jobs": totals["failed_jobs"] or 0,
        "job_seconds_30d": round(totals["job_seconds"] or 0, 1),
        "organizations_behind_on_migrations": totals["behind"] or 0,
    }


def organizations_bulk(
    *,
    action: str,
    slugs: list[str],
    confirm: int,
    plan: str | None = None,
    request: HttpRequest | None = None,
) -> dict[str, Any]:
    """Suspend, resume or change the plan of many organizations at once. `confirm` must repeat how many are
    named (a typo'd list is not acted on). Each organization goes through the one-organization service (so
    each is audited); one that cannot is reported, the others still done."""
    from shared_apps.organizations import selectors, services

    if action not in BULK_ACTIONS:
        raise InvalidInput("action", f"One of {', '.join(BULK_ACTIONS)}.")
    slugs = list(dict.fromkeys(slugs))
    if not slugs or len(slugs) > BULK_MAX:
        raise InvalidInput("slugs", f"From 1 to {BULK_MAX} organization slugs.")
    if confirm != len(slugs):
        raise InvalidInput("confirm", f"Repeat the number of organizations named ({len(slugs)}) to confirm.")
    if action == "change_plan" and not plan:
        raise InvalidInput("plan", "The plan to move them to.", code="required")
    done: list[str] = []
    failed: dict[str, dict[str, Any]] = {}
    for slug in slugs:
        try:
            organization = selectors.organization_get(slug=slug)
            if action == "change_plan":
                services.organization_update(organization=organization, plan=plan, request=request)
            else:
                status = OrganizationStatus.SUSPENDED if action == "suspend" else OrganizationStatus.ACTIVE
                services.organization_set_status(organization=organization, status=status, request=request)
        except InvalidInput as error:
            if error.field == "plan":
                raise  # the same for every organization
            failed[slug] = {"code": error.code, "message": error.message}
        except AppError as error:
            failed[slug] = {"code": error.code, "message": error.message}
        else:
            done.append(slug)
    return {"action": action, "done": done, "failed": failed}
