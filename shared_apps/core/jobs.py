"""rq integration with organizations.

django-tenants keeps the schema on the connection; rq knows nothing of it.

A job enqueued while an organization's schema is active carries that schema in `job.meta` and runs inside
it. Tenant jobs (functions under `tenant_apps.` or marked with `@tenant_job`) refuse to run without one,
so a job can never silently read or write the public schema instead of an organization's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import django_rq
from django.db import close_old_connections
from django_tenants.utils import get_public_schema_name, schema_context
from rq.job import Job
from rq.queue import Queue

from shared_apps.core import tracing
from shared_apps.core.connections import job_boundary as connections_boundary
from shared_apps.core.db import connection
from shared_apps.core.errors import AppError
from shared_apps.organizations import placement

SCHEMA_META_KEY = "schema_name"
F = TypeVar("F", bound=Callable[..., Any])


class MissingOrganizationContext(AppError):
    code = "missing_organization_context"
    message = "This job works on an organization's data and was enqueued without an organization."


def tenant_job(func: F) -> F:
    """Mark a job function as needing an organization's schema wherever it is defined."""
    func.leadpulse_tenant_job = True  # type: ignore[attr-defined]
    return func


def _needs_organization(func: Callable[..., Any] | None) -> bool:
    if func is None:
        return False
    return bool(getattr(func, "leadpulse_tenant_job", False)) or func.__module__.startswith("tenant_apps.")


def _current_schema() -> str | None:
    schema = connection.schema_name
    return None if schema == get_public_schema_name() else schema


def _with_schema(meta: dict | None) -> dict:
    meta = dict(meta or {})
    if SCHEMA_META_KEY not in meta:
        schema = _current_schema()
        if schema is not None:
            meta[SCHEMA_META_KEY] = schema
    return meta


class OrganizationQueue(django_rq.queues.DjangoRQ):
    """Records the active organization's schema on every job at enqueue time (not at commit time)."""

    def enqueue_call(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["meta"] = _with_schema(kwargs.get("meta"))
        return super().enqueue_call(*args, **kwargs)

    def create_job(self, *args: Any, **kwargs: Any) -> Job:
        kwargs["meta"] = _with_schema(kwargs.get("meta"))
        return super().create_job(*args, **kwargs)


class OrganizationJob(Job):
    """Runs the job function inside the schema recorded in its meta."""

    def perform(self) -> Any:
        with tracing.job_span(self):
            return self._perform_in_schema()

    def _perform_in_schema(self) -> Any:
        schema = self.meta.get(SCHEMA_META_KEY)
        _recycle_connections()
        try:
            placement.activate(placement.DEFAULT)  # the organization's placement is read on the primary
            if schema is None:
                if _needs_organization(self.func):
                    raise MissingOrganizationContext(function=self.func_name)
                connection.set_schema_to_public()
                return super().perform()
            placement.activate(placement.job_database(schema))
            with schema_context(schema):
                return super().perform()
        finally:
            connections_boundary(schema)  # DB_CONN_MAX_SCHEMAS, on the database the job used
            placement.activate(placement.DEFAULT)
            _recycle_connections()


def _recycle_connections() -> None:
    # Like a request boundary; skipped inside a transaction (a burst worker in a test, an eager queue).
    if not connection.in_atomic_block:
        close_old_connections()


def get_queue(name: str = "default") -> Queue:
    return django_rq.get_queue(name)


def enqueue_in_organization(
    schema_name: str, func: Callable[..., Any], *args: Any, queue: str = "default", **kwargs: Any
) -> Job | None:
    """Enqueue `func` to run in the given organization's schema, whatever schema is active now."""
    return get_queue(queue).enqueue(func, *args, meta={SCHEMA_META_KEY: schema_name}, **kwargs)


def fan_out(func: Callable[..., Any], *args: Any, queue: str = "default", **kwargs: Any) -> list[str]:
    """Enqueue one job per active organization; returns the schemas it was enqueued for.

    Used by the scheduler for periodic per-organization work (snapshots, token clean-up, ...).
    """
    from shared_apps.organizations.selectors import active_schema_names

    schemas = active_schema_names()
    for schema in schemas:
        enqueue_in_organization(schema, func, *args, queue=queue, **kwargs)
    return schemas
