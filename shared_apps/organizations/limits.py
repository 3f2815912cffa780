"""Plan limits: what an organization's plan allows, read once per plan and cached; and the check every
limited write calls (members, records, webhook endpoints, imports per day).

A write past a limit is refused with 402 `plan_limit_reached`, naming the limit, its maximum and the current
count. Reaching 80% of a limit announces `plan.limit_nearing` (tenant_apps.notifications warns the
organization's admins, once per limit, maximum and period). Storage (`storage_mb`) counts the schema's size
and the files as the hourly usage job last measured them, plus the files stored since (`storage_add`).
Limits live in the public schema
(`PlanDefinition`); the cache is forgotten when a plan is saved or deleted, and an organization's plan is
read from its (routing-cached) row, forgotten when the organization is saved: a change takes effect at once.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from shared_apps.core import nearcache
from shared_apps.core.errors import AppError
from shared_apps.core.events import publish_on_commit
from shared_apps.organizations.models import Organization, OrganizationUsage, PlanDefinition

# limit name (in errors and notifications) -> PlanDefinition field
LIMIT_FIELDS = {
    "members": "max_members",
    "records": "max_records",
    "storage_mb": "max_storage_mb",
    "api_requests_per_minute": "api_requests_per_minute",
    "imports_per_day": "imports_per_day",
    "webhook_endpoints": "max_webhook_endpoints",
}
# limits counted per day: their warning is given again each day
DAILY = {"imports_per_day"}
WARNING_RATIO = 0.8
LIMITS_TTL = 3600
WARNED_TTL = 2 * 86400

_cache_client: Any = None


def _cache() -> Any:
    # one process-wide client of the platform cache (no tenant key prefix: the same key in every schema)
    global _cache_client
    if _cache_client is None:
        _cache_client = caches.create_connection("platform")
    return _cache_client


class PlanLimitReached(AppError):
    status_code = 402
    code = "plan_limit_reached"
    message = "The organization's plan does not allow more."

    def __init__(self, *, limit: str, max: int, current: int) -> None:
        super().__init__(
            f"The organization's plan allows at most {max} ({limit.replace('_', ' ')}).",
            limit=limit,
            max=max,
            current=current,
        )


def _key(plan: str) -> str:
    return f"plan-limits:{plan}"


def plan_limits(plan: str) -> dict[str, int | None]:
    """Every limit of a plan (None: unlimited); an unknown plan has none. Each process keeps the cached
    limits it read (shared_apps.core.nearcache; a change of the plan drops every copy)."""
    cache = _cache()
    raw = nearcache.read([cache.make_key(_key(plan))])[0]
    return _limits(plan, None if raw is None else cache._cache._serializer.loads(raw))


def _limits(plan: str, cached: dict[str, int | None] | None) -> dict[str, int | None]:
    if cached is not None:
        return dict(cached)
    with schema_context(get_public_schema_name()):
        row = PlanDefinition.objects.filter(slug=plan).first()
    limits = {name: getattr(row, field) if row else None for name, field in LIMIT_FIELDS.items()}
    _cache().set(_key(plan), limits, LIMITS_TTL)
    return limits


def forget_plan(plan: str) -> None:
    def forget() -> None:
        _cache().delete(_key(plan))
        nearcache.forget([_cache().make_key(_key(plan))])

    forget()
    transaction.on_commit(forget)


@receiver([post_save, post_delete], sender=PlanDefinition)
def _plan_changed(sender: type, instance: PlanDefinition, **kwargs: Any) -> None:
    forget_plan(instance.slug)


def _organization() -> Organization | None:
    from shared_apps.organizations.context import current_organization_or_none  # context re-exports this

    return current_organization_or_none()


def plan_limit(limit: str, organization: Organization | None = None) -> int | None:
    """The maximum the organization's plan allows for `limit` (None: unlimited or no organization)."""
    organization = organization or _organization()
    if organization is None:
        return None
    return plan_limits(organization.plan)[limit]


def plan_limit_check(limit: str, *, current: int, adding: int = 1) -> None:
    """Refuse (402 plan_limit_reached) adding `adding` to `current` past the plan's `limit`; warn the
    organization's admins once when the result reaches 80% of it."""
    organization = _organization()
    maximum = plan_limit(limit, organization)
    if organization is None or maximum is None:
        return
    if current + adding > maximum:
        raise PlanLimitReached(limit=limit, max=maximum, current=current)
    if current + adding >= math.ceil(maximum * WARNING_RATIO):
        _warn(organization, limit=limit, maximum=maximum, current=current + adding)


def plan_limit_remaining(limit: str, *, current: int) -> int | None:
    """How many more the plan allows (None: unlimited)."""
    maximum = plan_limit(limit)
    return None if maximum is None else max(0, maximum - current)


def _warn(organization: Organization, *, limit: str, maximum: int, current: int) -> None:
    period = timezone.localdate().isoformat() if limit in DAILY else ""
    key = f"plan-limit:{organization.plan}:{limit}:{maximum}:{period}"
    # the cache spares the notification rows' unique key most repeats; the rows keep it once regardless
    if not _cache().add(f"plan-warned:{organization.pk}:{key}", 1, WARNED_TTL):
        return
    publish_on_commit(
        "plan.limit_nearing", record_id=organization.pk, limit=limit, max=maximum, current=current, key=key
    )


MB = 1024 * 1024
STORAGE_TTL = 3600


def _storage_key(organization_id: int) -> str:
    return f"storage-used:{organization_id}"


def storage_used(organization: Organization) -> int:
    """Bytes the organization uses: its schema and files as last collected (the public usage row, cached)
    plus the files stored since."""
    key = _storage_key(organization.pk)
    cached = _cache().get(key)
    if cached is not None:
        return int(cached)
    with schema_context(get_public_schema_name()):
        row = OrganizationUsage.objects.filter(organization_id=organization.pk).values_list(
            "schema_bytes", "file_bytes"
        )
        measured = sum(row.first() or (0, 0))
    _cache().add(key, measured, STORAGE_TTL)
    return int(_cache().get(key, measured))


def storage_add(size: int) -> None:
    """Count `size` bytes of files just stored until the next collection measures them."""
    organization = _organization()
    if organization is None or size <= 0:
        return
    storage_used(organization)  # cached first, so the increment has a base
    with contextlib.suppress(ValueError):  # expired in between: the next read measures again
        _cache().incr(_storage_key(organization.pk), size)


def forget_storage(organization_id: int) -> None:
    """The usage job measured again: the next check reads the new row."""
    _cache().delete(_storage_key(organization_id))


def storage_check(*, adding_bytes: int = 0) -> None:
    """Refuse (402 plan_limit_reached, limit `storage_mb`) a write that adds data once the organization's
    storage is at its plan's limit, or files that would take it past; warn its admins at 80%."""
    organization = _organization()
    maximum = plan_limit("storage_mb", organization)
    if organization is None or maximum is None:
        return
    used = storage_used(organization)
    limit = maximum * MB
    if used + adding_bytes > limit or used >= limit:
        raise PlanLimitReached(limit="storage_mb", max=maximum, current=math.ceil(used / MB))
    after = used + adding_bytes
    if after >= limit * WARNING_RATIO:
        _warn(organization, limit="storage_mb", maximum=maximum, current=math.ceil(after / MB))
