"""The one way into an organization: its database active, its real `Organization` row the connection's tenant.

Requests (the routing middleware), jobs (shared_apps.organizations.jobs), live streams, streamed exports and
management commands all enter an organization through this module, so code running inside reads the
organization's settings (currency, name, "reps see all leads") from `current_organization()` exactly the same
way wherever it runs, without a query. django-tenants' `schema_context(name)` instead installs a stand-in
(`FakeTenant`) carrying only the schema name; `current_organization()` still answers there (tests and shells
enter that way), reading the row once per entry.

Entering an organization also activates its time zone (Django's `timezone.activate`), so `localdate()`,
`TruncDate` and naive datetimes a client sends follow its calendar; for a signed-in member the request then
switches to the member's own zone (`zone_for`, applied by shared_apps.organizations.timezones).

Two shapes: `organization_context(org)` for a block (restores the previous tenant and database after), and
`enter_organization(org)` / `enter_public()` for request and job boundaries, where the organization stays
active until the next boundary (a streamed response is read after the middleware has returned).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from shared_apps.core import localtime
from shared_apps.core.db import connection
from shared_apps.organizations import placement
from shared_apps.organizations.exceptions import MissingOrganizationContext

# Tenant apps reach the platform only through this module (import-linter's platform-through-context
# contract): the job helpers are theirs from here. jobs.py imports this module lazily, so either loads first.
from shared_apps.organizations.jobs import enqueue_in_organization, fan_out, tenant_job
from shared_apps.organizations.limits import (
    PlanLimitReached,
    plan_limit,
    plan_limit_check,
    plan_limit_remaining,
    storage_add,
    storage_check,
)
from shared_apps.organizations.models import Organization
from shared_apps.organizations.support import support_sessions_of

__all__ = [
    "MissingOrganizationContext",
    "Organization",
    "PlanLimitReached",
    "cache_changed",
    "cache_get",
    "current_organization",
    "current_organization_or_none",
    "enqueue_in_organization",
    "enter_organization",
    "enter_public",
    "exports_dir",
    "fan_out",
    "generation_memo",
    "job_organization",
    "kept_in_process",
    "live_organization",
    "organization_context",
    "organization_for_schema",
    "organization_for_schema_or_none",
    "organization_zone",
    "plan_limit",
    "plan_limit_check",
    "plan_limit_remaining",
    "storage_add",
    "storage_check",
    "support_sessions_of",
    "tenant_job",
    "zone_for",
]


# Small organization cache entries kept in each process (request_cache, which builds on namespace, which
# builds on this module: imported when first called).


def kept_in_process(key: str) -> None:
    from shared_apps.organizations import request_cache

    request_cache.kept_in_process(key)


def cache_get(key: str, default: Any = None) -> Any:
    from shared_apps.organizations import request_cache

    return request_cache.cache_get(key, default)


def cache_changed(key: str) -> None:
    from shared_apps.organizations import request_cache

    request_cache.cache_changed(key)


def generation_memo(key: str, load: Any) -> Any:
    from shared_apps.organizations import request_cache

    return request_cache.generation_memo(key, load)


# where a schema_context stand-in keeps the row read for it (one query per entry, not per call)
_ROW_ATTRIBUTE = "leadpulse_organization"


def current_organization() -> Organization:
    """The organization the connection serves now; MissingOrganizationContext in the public schema."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Organization):
        return tenant
    schema = connection.schema_name
    if tenant is None or schema == get_public_schema_name():
        raise MissingOrganizationContext()
    # entered by schema name only (django-tenants' schema_context: tests, a shell)
    organization = getattr(tenant, _ROW_ATTRIBUTE, None)
    if organization is None:
        organization = Organization.objects.filter(schema_name=schema).first()
        if organization is None:
            raise MissingOrganizationContext(schema=schema)
        setattr(tenant, _ROW_ATTRIBUTE, organization)
    return organization


def exports_dir() -> Path:
    """Where the current organization's export files go: under its id, never reused, and removed on purge
    (shared_apps.organizations.namespace)."""
    from shared_apps.organizations import namespace  # it reads the current organization from this module

    return namespace.exports_dir()


def current_organization_or_none() -> Organization | None:
    try:
        return current_organization()
    except MissingOrganizationContext:
        return None


def organization_zone(organization: Organization | None = None) -> ZoneInfo:
    """The organization's time zone (`organization`, else the current one; UTC outside any): the zone of its
    snapshots, analytics days and scheduled work."""
    organization = organization or current_organization_or_none()
    return localtime.zone(organization.time_zone if organization else None)


def zone_for(member: Any, organization: Organization | None = None) -> ZoneInfo:
    """The zone in force for `member`: their own `time_zone`, else their organization's (`organization`, else
    the current one). `member` may be None or anonymous: the organization's."""
    own = getattr(member, "time_zone", "") if member is not None else ""
    if own and localtime.is_zone_name(own):
        return ZoneInfo(own)
    return organization_zone(organization)


def organization_for_schema(schema: str) -> Organization:
    """The organization owning `schema`: the active one if it is that (no query), else read on the primary."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Organization) and tenant.schema_name == schema:
        return tenant
    organization = Organization.objects.filter(schema_name=schema).first()
    if organization is None:
        raise MissingOrganizationContext(schema=schema)
    return organization


def organization_for_schema_or_none(schema: str) -> Organization | None:
    try:
        return organization_for_schema(schema)
    except MissingOrganizationContext:
        return None


def live_organization(slug: str) -> Organization | None:
    """For commands naming an organization by slug: the live (not deleted) one."""
    return Organization.objects.filter(slug=slug).exclude(status="deleted").first()


@contextmanager
def organization_context(organization: Organization | str) -> Iterator[Organization]:
    """Run the block in `organization` (a row, or its schema name): its database active (placement.using, so
    allowed inside a transaction on the primary), the row as the connection's tenant. The previous tenant
    and database are back afterwards."""
    if isinstance(organization, str):
        organization = organization_for_schema(organization)
    with placement.using(organization.database), timezone.override(organization_zone(organization)):
        previous = connection.tenant
        connection.set_tenant(organization)
        try:
            yield organization
        finally:
            if previous is None:
                connection.set_schema_to_public()
            else:
                connection.set_tenant(previous)


def enter_organization(organization: Organization) -> None:
    """At a request or job boundary (outside any transaction): serve `organization` until the next one."""
    placement.activate(organization.database)
    connection.set_tenant(organization)
    # its days until a signed-in member's own zone replaces it (shared_apps.organizations.timezones)
    timezone.activate(organization_zone(organization))


def thread_connections_close() -> None:
    """At the end of a thread of the caller's own (a writer of a bulk import): its connections to every
    database closed (a pooled one goes back to its pool)."""
    placement.close_all()


def enter_public() -> None:
    """At a request or job boundary: the primary database, the public schema, UTC."""
    placement.activate(placement.DEFAULT)
    connection.set_schema_to_public()
    timezone.deactivate()


def job_organization(schema: str) -> Organization | None:
    """The organization owning `schema`, read on the primary when a job starts (so a job enqueued before a
    move runs where the organization is now, with its settings as they are now). While a move freezes the
    organization's writes the job waits, up to MOVE_JOB_WAIT_SECONDS, then runs wherever it is. None when
    no organization owns the schema (the template, a purged one)."""
    deadline = time.monotonic() + settings.MOVE_JOB_WAIT_SECONDS
    while True:
        organization = Organization.objects.filter(schema_name=schema).first()
        if organization is None or organization.moving_since is None or time.monotonic() >= deadline:
            return organization
        time.sleep(0.5)
