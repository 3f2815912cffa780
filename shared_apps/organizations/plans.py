"""Every write on plans (operators define them; shared_apps.organizations.limits reads them). Each change
is recorded in the platform's audit log; saving a plan forgets its cached limits, so it applies at once."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django_tenants.utils import get_public_schema_name, schema_context

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import Conflict, InvalidInput, NotFound
from shared_apps.organizations.limits import LIMIT_FIELDS
from shared_apps.organizations.models import SLUG_RE as _SLUG_RE
from shared_apps.organizations.models import Organization, OrganizationStatus, PlanDefinition

LIMIT_COLUMNS = tuple(LIMIT_FIELDS.values())
MAX_LIMIT = 2_000_000_000


class PlanNotFound(NotFound):
    code = "plan_not_found"
    message = "No such plan."


class PlanInUse(Conflict):
    code = "plan_in_use"
    message = "Organizations are on this plan; move them to another plan first."


def _audit(action: str, plan: PlanDefinition, request: HttpRequest | None, changes: dict[str, Any]) -> None:
    with schema_context(get_public_schema_name()):
        audit_record(action, request=request, target=plan, target_repr=plan.slug, changes=changes)


def _clean_limits(values: dict[str, Any]) -> dict[str, int | None]:
    cleaned: dict[str, int | None] = {}
    for field in LIMIT_COLUMNS:
        if field not in values:
            continue
        value = values[field]
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT
        ):
            raise InvalidInput(field, f"A whole number from 0 to {MAX_LIMIT}, or null for no limit.")
        cleaned[field] = value
    return cleaned


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        raise InvalidInput("name", "A name of 1 to 100 characters is required.", code="required")
    return name.strip()


def plan_list() -> QuerySet[PlanDefinition]:
    return PlanDefinition.objects.all()


def plan_get(*, slug: str) -> PlanDefinition:
    plan = PlanDefinition.objects.filter(slug=slug).first()
    if plan is None:
        raise PlanNotFound(slug=slug)
    return plan


def plan_create(
    *, slug: object, name: object, request: HttpRequest | None = None, **limits: Any
) -> PlanDefinition:
    """Define a plan: a new lowercase slug (3-16 characters), a name and its limits (null: unlimited)."""
    if not isinstance(slug, str) or not 3 <= len(slug) <= 16 or not _SLUG_RE.match(slug) or slug == "move":
        raise InvalidInput("slug", "3 to 16 lowercase letters, digits and hyphens.", code="invalid_slug")
    fields = {"name": _clean_name(name), **_clean_limits(limits)}
    try:
        with transaction.atomic():
            plan = PlanDefinition.objects.create(slug=slug, **fields)
    except IntegrityError:
        raise Conflict("A plan with this slug already exists.", code="plan_slug_taken", slug=slug) from None
    _audit("plan.created", plan, request, {key: [None, value] for key, value in fields.items()})
    return plan


@transaction.atomic
def plan_update(*, slug: str, request: HttpRequest | None = None, **values: Any) -> PlanDefinition:
    """Change a plan's name or limits; every organization on it works within the new limits at once."""
    plan = PlanDefinition.objects.select_for_update().filter(slug=slug).first()
    if plan is None:
        raise PlanNotFound(slug=slug)
    wanted: dict[str, Any] = _clean_limits(values)
    if "name" in values:
        wanted["name"] = _clean_name(values["name"])
    changes = {
        key: [getattr(plan, key), value] for key, value in wanted.items() if getattr(plan, key) != value
    }
    if changes:
        for key, (_before, after) in changes.items():
            setattr(plan, key, after)
        plan.save(update_fields=[*changes, "updated_at"])
        _audit("plan.updated", plan, request, changes)
    return plan


@transaction.atomic
def plan_delete(*, slug: str, request: HttpRequest | None = None) -> None:
    """Remove a plan no live organization is on (409 plan_in_use names how many are)."""
    plan = PlanDefinition.objects.select_for_update().filter(slug=slug).first()
    if plan is None:
        raise PlanNotFound(slug=slug)
    using = Organization.objects.filter(plan=slug).exclude(status=OrganizationStatus.DELETED).count()
    if using:
        raise PlanInUse(organizations=using)
    _audit("plan.deleted", plan, request, {"slug": [slug, None]})
    plan.delete()


def plan_exists(slug: object) -> bool:
    return isinstance(slug, str) and PlanDefinition.objects.filter(slug=slug).exists()
