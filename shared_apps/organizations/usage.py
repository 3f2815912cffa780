"""Usage per organization: requests counted as they are answered, everything else collected by a scheduled
job (config/cron.py) into `OrganizationUsage` in the public schema. The console and the platform API read that
row only: no page scans an organization's schema.

Requests: the access log middleware (shared_apps.observability.logging) counts each answered request of an
organization in a Redis hash per organization and UTC day (total, 4xx, 5xx), kept USAGE_DAYS + 5 days. The
counts wait in the process (`pending_request_counts`), so counting costs a request no round trip of its own:
a timer sends them PENDING_MAX_SECONDS after the first waiting one, and they are sent before this process
reads the counts, and at exit.
Job time is counted the same way by the job class (`job_ms`). The
collector sums the last USAGE_DAYS days.

Failing jobs: rq keeps failed jobs in each queue's FailedJobRegistry, each carrying its organization's id in
its meta (shared_apps.organizations.jobs). The registries are tallied per organization once per
FAILED_JOBS_TTL (one pass over the failed jobs, cached), and each organization's collection reads its count.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.db.models import Count, Max, Sum
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from shared_apps.core.db import connection
from shared_apps.core.redis_pool import background_client
from shared_apps.organizations.jobs import tenant_job
from shared_apps.organizations.limits import forget_storage
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


PENDING_MAX_SECONDS = 2.0
_pending: dict[str, Counter[str]] = {}  # day key -> counts not sent yet
_pending_since: float | None = None
_pending_lock = threading.Lock()
_timer: threading.Timer | None = None


def count_request(organization_id: int, status: int) -> None:
    """Count one answered request of the organization (never raises: counting must not break a request)."""
    global _pending_since, _timer
    try:
        key = _day_key(organization_id, timezone.now().strftime("%Y%m%d"))
        with _pending_lock:
            counts = _pending.setdefault(key, Counter())
            counts["total"] += 1
            if 400 <= status < 500:
                counts["4xx"] += 1
            elif status >= 500:
                counts["5xx"] += 1
            if _pending_since is None:
                _pending_since = time.monotonic()
            if _timer is None or not _timer.is_alive():
                # the timer sends them, off the request path; one timer at a time, not one per request
                _timer = threading.Timer(PENDING_MAX_SECONDS, flush_request_counts)
                _timer.daemon = True
                _timer.start()
            # the request sends them itself only when the timer is late (a starved thread)
            overdue = time.monotonic() - _pending_since >= 2 * PENDING_MAX_SECONDS
        if overdue:
            flush_request_counts()
    except Exception:
        logger.warning("request usage not counted", exc_info=True)


def pending_request_counts(pipe: Any) -> None:
    """Add the waiting request counts to `pipe` (a pipeline about to be sent); they are no longer waiting."""
    global _pending_since
    with _pending_lock:
        pending = dict(_pending)
        _pending.clear()
        _pending_since = None
    for key, counts in pending.items():
        for field, count in counts.items():
            pipe.hincrby(key, field, count)
        pipe.expire(key, (USAGE_DAYS + 5) * 86400)


def flush_request_counts() -> None:
    """Send the waiting request counts now (never raises)."""
    try:
        pipe = background_client(_redis()).pipeline(transaction=False)  # off the requests' pool
        pending_request_counts(pipe)
        if len(pipe):
            pipe.execute()
    except Exception:
        logger.warning("request usage not counted", exc_info=True)


atexit.register(flush_request_counts)


def count_job_time(organization_id: int, seconds: float) -> None:
    """Add one job's run time to the organization's day (never raises: counting must not fail a job)."""
    key = _day_key(organization_id, timezone.now().strftime("%Y%m%d"))
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.hincrby(key, "job_ms", max(0, round(seconds * 1000)))
        pipe.expire(key, (USAGE_DAYS + 5) * 86400)
        pipe.execute()
    except Exception:
        logger.warning("job time not counted", exc_info=True)


def requests_counted(organization_id: int, *, days: int = USAGE_DAYS) -> dict[str, int]:
    """Requests, 4xx and 5xx of the organization over the last `days` UTC days (today included), and the
    milliseconds its jobs ran (`job_ms`)."""
    flush_request_counts()
    today = timezone.now().date()
    pipe = _redis().pipeline(transaction=False)
    for back in range(days):
        pipe.hgetall(_day_key(organization_id, (today - timedelta(days=back)).strftime("%Y%m%d")))
    totals = {"total": 0, "4xx": 0, "5xx": 0, "job_ms": 0}
    for day in pipe.execute():
        for field, value in day.items():
            name = field.decode() if isinstance(field, bytes) else field
            if name in totals:
                totals[name] += int(value)
    return totals


FAILED_JOBS_TTL = 600
_FAILED_JOBS_KEY = "usage:failed-jobs"


def failed_jobs_by_organization(*, fresh: bool = False) -> dict[int, int]:
    """How many jobs of each organization sit in rq's failed job registries (every queue), tallied in one
    pass over them and cached FAILED_JOBS_TTL seconds (every organization's collection in an hourly run
    reads the same tally)."""
    from django_rq import get_queue
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    from shared_apps.organizations.jobs import ORGANIZATION_ID_META_KEY, SCHEMA_META_KEY

    if not fresh:
        cached = _cache().get(_FAILED_JOBS_KEY)
        if cached is not None:
            return {int(key): value for key, value in cached.items()}
    tally: dict[int, int] = {}
    schemas: dict[str, int] = {}
    for name in settings.RQ_QUEUES:
        queue = get_queue(name)
        registry = FailedJobRegistry(queue=queue)
        ids = registry.get_job_ids()
        for start in range(0, len(ids), 500):
            for job in Job.fetch_many(ids[start : start + 500], connection=queue.connection):
                if job is None:
                    continue
                organization_id = job.meta.get(ORGANIZATION_ID_META_KEY)
                if organization_id is None and job.meta.get(SCHEMA_META_KEY):
                    schema = job.meta[SCHEMA_META_KEY]
                    if schema not in schemas:
                        schemas[schema] = (
                            Organization.objects.filter(schema_name=schema)
                            .order_by("-id")
                            .values_list("id", flat=True)
                            .first()
                            or 0
                        )
                    organization_id = schemas[schema]
                if organization_id:
                    tally[int(organization_id)] = tally.get(int(organization_id), 0) + 1
    _cache().set(_FAILED_JOBS_KEY, {str(key): value for key, value in tally.items()}, FAILED_JOBS_TTL)
    return tally


def _admin_emails() -> str:
    user_model = apps.get_model("users", "User")
    emails = (
        user_model._default_manager.filter(is_active=True, role="admin")
        .exclude(email__endswith=SUPPORT_EMAIL_SUFFIX)
        .order_by("email")
        .values_list("email", flat=True)[:50]
    )
    return " ".join(emails)


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


def _migrations(schema: str) -> tuple[int, str, int]:
    """How many migrations the schema has applied, the last one ("app.name"), and how many of the
    template's it lacks."""
    table = f'"{schema}".django_migrations'
    template = '"' + settings.TENANT_BASE_SCHEMA.replace('"', '""') + '".django_migrations'
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (the organization row's schema name)
        count = int(cursor.fetchone()[0])
        cursor.execute(f"SELECT app || '.' || name FROM {table} ORDER BY applied DESC, id DESC LIMIT 1")  # noqa: S608
        last = cursor.fetchone()
        cursor.execute("SELECT to_regclass(%s)", [template])
        pending = 0
        if cursor.fetchone()[0] is not None:
            cursor.execute(
                f"SELECT count(*) FROM {template} t WHERE NOT EXISTS "  # noqa: S608 (settings' schema name)
                f"(SELECT 1 FROM {table} m WHERE m.app = t.app AND m.name = t.name)"
            )
            pending = int(cursor.fetchone()[0])
    return count, last[0] if last else "", pending


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
    applied, last_migration, pending = _migrations(organization.schema_name)
    requests = requests_counted(organization.pk)
    last_active = max(
        (moment for moment in (last_sign_in, last_activity) if moment is not None), default=None
    )
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
        "migrations_pending": pending,
        "last_active_at": last_active,
        "failed_jobs": failed_jobs_by_organization().get(organization.pk, 0),
        "job_seconds_30d": requests["job_ms"] / 1000,
    }


def usage_collect_current() -> OrganizationUsage:
    """Measure the current organization and store its usage row (idempotent: the row is replaced)."""
    from shared_apps.organizations.context import current_organization

    organization = current_organization()
    measured = usage_measure(organization)
    admins = _admin_emails()
    with schema_context(get_public_schema_name()):
        usage, _ = OrganizationUsage.objects.update_or_create(
            organization_id=organization.pk, defaults={"collected_at": timezone.now(), **measured}
        )
        if admins != organization.admin_emails:  # the list's admin-email search reads these
            Organization.objects.filter(pk=organization.pk).update(admin_emails=admins)
    forget_storage(organization.pk)
    return usage


@tenant_job
def usage_collect() -> int:
    """The scheduled job (config/cron.py fans it out over every active organization): one organization's
    usage measured and stored; safe to run twice."""
    return usage_collect_current().pk
