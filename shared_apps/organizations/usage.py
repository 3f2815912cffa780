"""Usage per organization: requests counted as they are answered, everything else collected by a scheduled
job (config/cron.py) into `OrganizationUsage` in the public schema. The console and the platform API read that
row only: no page scans an organization's schema.

Requests: the access log middleware (shared_apps.observability.logging) counts each answered request of an
organization in a Redis hash per organization and UTC day (total, 4xx, 5xx), kept USAGE_DAYS + 5 days: one
pipelined round trip per request. The collector sums the last USAGE_DAYS days.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.core.cache import caches
from django.db.models import Count, Max, Sum
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from shared_apps.core.db import connection
from shared_apps.organizations.jobs import tenant_job
from shared_apps.organizations.models import Organization, OrganizationUsage
from shared_apps.users.models import SUPPORT_EMAIL_SUFFIX

logger = logging.getLogger(__name__)

USAGE_DAYS = 30
_client: Any = None


def _cache() -> Any:
    global _client
    if _client is None:
        _client = caches.create_connection("platform")
    return _client


def _redis() -> Any:
    return _cache()._cache.get_client(None, write=True)


def _day_key(organization_id: int, day: str) -> str:
    return str(_cache().make_key(f"usage:requests:{organization_id}:{day}"))


def count_request(organization_id: int, status: int) -> None:
    """Count one answered request of the organization (never raises: counting must not break a request)."""
    key = _day_key(organization_id, timezone.now().strftime("%Y%m%d"))
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.hincrby(key, "total", 1)
        if 400 <= status < 500:
            pipe.hincrby(key, "4xx", 1)
        elif status >= 500:
            pipe.hincrby(key, "5xx", 1)
        pipe.expire(key, (USAGE_DAYS + 5) * 86400)
        pipe.execute()
    except Exception:
        logger.warning("request usage not counted", exc_info=True)


def requests_counted(organization_id: int, *, days: int = USAGE_DAYS) -> dict[str, int]:
    """Requests, 4xx and 5xx of the organization over the last `days` UTC days (today included)."""
    today = timezone.now().date()
    pipe = _redis().pipeline(transaction=False)
    for back in range(days):
        pipe.hgetall(_day_key(organization_id, (today - timedelta(days=back)).strftime("%Y%m%d")))
    totals = {"total": 0, "4xx": 0, "5xx": 0}
    for day in pipe.execute():
        for field, value in day.items():
            name = field.decode() if isinstance(field, bytes) else field
            if name in totals:
                totals[name] += int(value)
    return totals


def _count(label: str, **filters: Any) -> int:
    try:
        model = apps.get_model(label)
    except LookupError:
        return 0
    return int(model._default_manager.filter(**filters).count())


def _schema_bytes(schema: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'm')",
            [schema],
        )
        return int(cursor.fetchone()[0])


def _migrations(schema: str) -> tuple[int, str]:
    """How many migrations the schema has applied, and the last one ("app.name")."""
    table = f'"{schema}".django_migrations'
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (the organization row's schema name)
        count = int(cursor.fetchone()[0])
        cursor.execute(f"SELECT app || '.' || name FROM {table} ORDER BY applied DESC, id DESC LIMIT 1")  # noqa: S608
        last = cursor.fetchone()
    return count, last[0] if last else ""


def usage_measure(organization: Organization) -> dict[str, Any]:
    """What the organization uses, measured in its schema (which must be the connection's now)."""
    since = timezone.now() - timedelta(days=USAGE_DAYS)
    user_model = apps.get_model("users", "User")
    members = user_model._default_manager.filter(is_active=True).exclude(email__endswith=SUPPORT_EMAIL_SUFFIX)
    last_sign_in = members.aggregate(last=Max("last_login"))["last"]
    try:
        activity = apps.get_model("activities", "Activity")
        last_activity = activity._default_manager.aggregate(last=Max("created_at"))["last"]
    except LookupError:
        last_activity = None
    try:
        attachment = apps.get_model("mail", "Attachment")
        files = attachment._default_manager.aggregate(count=Count("id"), size=Sum("size"))
        file_count, file_bytes = files["count"], files["size"] or 0
    except LookupError:
        file_count, file_bytes = 0, 0
    live = {"deleted_at__isnull": True, "merged_into__isnull": True}
    applied, last_migration = _migrations(organization.schema_name)
    requests = requests_counted(organization.pk)
    return {
        "members": members.count(),
        "last_sign_in_at": last_sign_in,
        "leads": _count("leads.Lead", **live),
        "contacts": _count("contacts.Contact", **live),
        "accounts": _count("accounts.Account", **live),
        "deals": _count("opportunities.Opportunity", **live),
        "activities": _count("activities.Activity"),
        "schema_bytes": _schema_bytes(organization.schema_name),
        "files": file_count,
        "file_bytes": file_bytes,
        "api_requests_30d": requests["total"],
        "api_4xx_30d": requests["4xx"],
        "api_5xx_30d": requests["5xx"],
        "imports_30d": _count("imports.Import", created_at__gte=since, dry_run=False),
        "webhook_failures_30d": _count("webhooks.Delivery", status="failed", created_at__gte=since),
        "last_activity_at": last_activity,
        "migrations_applied": applied,
        "last_migration": last_migration,
    }


def usage_collect_current() -> OrganizationUsage:
    """Measure the current organization and store its usage row (idempotent: the row is replaced)."""
    from shared_apps.organizations.context import current_organization

    organization = current_organization()
    measured = usage_measure(organization)
    with schema_context(get_public_schema_name()):
        usage, _ = OrganizationUsage.objects.update_or_create(
            organization_id=organization.pk, defaults={"collected_at": timezone.now(), **measured}
        )
    return usage


@tenant_job
def usage_collect() -> int:
    """The scheduled job (config/cron.py fans it out over every active organization): one organization's
    usage measured and stored; safe to run twice."""
    return usage_collect_current().pk
