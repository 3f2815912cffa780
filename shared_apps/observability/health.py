"""Liveness and readiness probes, served on every host (the root domain and every organization's).

`/healthz` answers as long as the process can run a view: no I/O, so a slow database never gets a healthy
process restarted. `/readyz` checks what a request needs: every database organizations are placed on
answers, Redis answers, and no migration is waiting for any database's public schema or template (the
schema every organization is cloned from and kept level with). The migration check walks the migration
graph, so its result is cached per process for MIGRATION_CHECK_TTL seconds; the databases and Redis are
asked on every call.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_tenants.utils import get_public_schema_name, schema_context

from shared_apps.core.db import connection
from shared_apps.organizations import placement

MIGRATION_CHECK_TTL = 30.0

_lock = threading.Lock()
_migrations_checked: dict[str, Any] = {"at": None, "pending": {}}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    """Every database organizations are placed on answers (one `SELECT 1` each)."""
    for alias in placement.database_aliases():
        with placement.using(alias), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()


def _check_redis() -> None:
    # The platform cache's client: one connection pool per process, no schema-prefixed key.
    client = caches["platform"]._cache.get_client()  # type: ignore[attr-defined]
    client.ping()


def pending_migrations(schema: str) -> list[str]:
    """Migrations of the project's leaf nodes not yet recorded as applied in `schema`."""
    with schema_context(schema):
        executor = MigrationExecutor(connection)
        graph, applied = executor.loader.graph, executor.loader.applied_migrations
        plan = [(m.app_label, m.name) for m, _ in executor.migration_plan(graph.leaf_nodes())]
        # migration_plan() says nothing about a hole below an applied leaf (a row lost from django_migrations,
        # a migration merged in late): any node of the graph not recorded is pending too.
        holes = sorted(key for key in graph.nodes if key not in applied and key not in plan)
        return [f"{app}.{name}" for app, name in [*holes, *plan]]


def _check_migrations(now: float) -> dict[str, list[str]]:
    with _lock:
        checked_at = _migrations_checked["at"]
        if checked_at is not None and now - checked_at < MIGRATION_CHECK_TTL:
            return _migrations_checked["pending"]
    pending = {}
    for alias in placement.database_aliases():
        prefix = "" if alias == placement.DEFAULT else f"{alias}:"
        with placement.using(alias):
            for schema in (get_public_schema_name(), settings.TENANT_BASE_SCHEMA):
                if found := pending_migrations(schema):
                    pending[prefix + schema] = found
    with _lock:
        _migrations_checked.update(at=now, pending=pending)
    return pending


def reset_migration_check() -> None:
    with _lock:
        _migrations_checked.update(at=None, pending={})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, Any] = {}
    ok = True
    for name, check in (("database", _check_database), ("redis", _check_redis)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # a probe reports every failure, whatever its kind
            checks[name] = f"error: {type(exc).__name__}"
            ok = False
    if checks["database"] == "ok":
        try:
            pending = _check_migrations(time.monotonic())
        except Exception as exc:
            checks["migrations"] = f"error: {type(exc).__name__}"
            ok = False
        else:
            checks["migrations"] = "ok" if not pending else {"pending": pending}
            ok = ok and not pending
    else:
        checks["migrations"] = "skipped"
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )
