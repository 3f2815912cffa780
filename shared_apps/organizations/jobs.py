"""rq integration with organizations.

django-tenants keeps the schema on the connection; rq knows nothing of it.

A job enqueued while an organization's schema is active carries that schema in `job.meta`; when it starts,
the organization's row is read and the job runs inside `organization_context(row)`: on its database, with
the real `Organization` as the connection's tenant (its settings hold in jobs exactly as in requests).
Tenant jobs (functions under `tenant_apps.` or marked with `@tenant_job`) refuse to run without one,
so a job can never silently read or write the public schema instead of an organization's.

Services enqueue by dotted path (`enqueue_in_organization(schema, "tenant_apps.x.jobs.f", id)`), so they
never import their own jobs module: jobs import services, never the reverse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import django_rq
from django.db import close_old_connections, transaction
from django_tenants.utils import get_public_schema_name
from rq import Retry
from rq.job import Job
from rq.queue import Queue

from shared_apps.core.connections import job_boundary as connections_boundary
from shared_apps.core.db import connection
from shared_apps.observability import tracing
from shared_apps.organizations import placement
from shared_apps.organizations.exceptions import MissingOrganizationContext
from shared_apps.organizations.models import Organization

SCHEMA_META_KEY = "schema_name"
SLUG_META_KEY = "organization"  # for the job's log lines and spans (tracing.job_span)
# The id of the organization the job was enqueued for: slugs and schema names come back after a purge, ids
# never do, so a job still queued for a purged organization cannot run in a newcomer under the same slug.
ORGANIZATION_ID_META_KEY = "organization_id"
F = TypeVar("F", bound=Callable[..., Any])
# a job function, or its dotted path ("tenant_apps.webhooks.jobs.deliver_attempt"), as rq accepts
JobFunction = Callable[..., Any] | str

__all__ = ["MissingOrganizationContext", "enqueue_in_organization", "fan_out", "get_queue", "tenant_job"]


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
            organization = _active_organization()
            if organization is not None:
                meta.setdefault(SLUG_META_KEY, organization.slug)
                meta.setdefault(ORGANIZATION_ID_META_KEY, organization.pk)
    return meta


def _active_organization() -> Organization | None:
    from shared_apps.organizations import context  # it re-exports this module's helpers

    return context.current_organization_or_none()


class OrganizationQueue(django_rq.queues.DjangoRQ):
    """Records the active organization's schema on every job at enqueue time (not at commit time)."""

    def enqueue_call(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["meta"] = _with_schema(kwargs.get("meta"))
        return super().enqueue_call(*args, **kwargs)

    def create_job(self, *args: Any, **kwargs: Any) -> Job:
        kwargs["meta"] = _with_schema(kwargs.get("meta"))
        return super().create_job(*args, **kwargs)


class OrganizationJob(Job):
    """Runs the job function in the organization recorded in its meta (its row read as the job starts)."""

    def perform(self) -> Any:
        with tracing.job_span(self):
            return self._perform_in_organization()

    def _perform_in_organization(self) -> Any:
        schema = self.meta.get(SCHEMA_META_KEY)
        _recycle_connections()
        try:
            placement.activate(placement.DEFAULT)  # the organization is read on the primary
            if schema is None:
                if _needs_organization(self.func):
                    raise MissingOrganizationContext(function=self.func_name)
                connection.set_schema_to_public()
                return super().perform()
            # imported here: the context module re-exports this one's helpers for tenant apps
            from shared_apps.organizations import context

            organization = context.job_organization(schema)
            if organization is None:
                raise MissingOrganizationContext(function=self.func_name, schema=schema)
            expected = self.meta.get(ORGANIZATION_ID_META_KEY)
            if expected is not None and expected != organization.pk:
                # enqueued for an organization since purged; this is another one under its old slug
                raise MissingOrganizationContext(
                    function=self.func_name, schema=schema, organization_id=expected
                )
            # its database active for the whole job, so the boundary below counts the connection it used
            placement.activate(organization.database)
            # (restores the tenant the job found: a job run in-process, by a test or an eager queue, hands
            # its caller's connection back as it was)
            started = time.perf_counter()
            try:
                with context.organization_context(organization):
                    return super().perform()
            finally:
                # the organization's job time, for its usage and the platform dashboard's noisiest
                from shared_apps.organizations.usage import count_job_time

                count_job_time(organization.pk, time.perf_counter() - started)
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
    organization: Organization | str,
    func: JobFunction,
    *args: Any,
    queue: str = "default",
    delay: timedelta | None = None,
    retry: Retry | None = None,
    **kwargs: Any,
) -> Job | None:
    """Enqueue `func` (a function or its dotted path) to run in `organization` (a row or its schema name),
    whatever schema is active now; after `delay` if given (the worker's scheduler moves it to the queue).
    Inside a transaction the job is enqueued when it commits, a delayed one too (rq's enqueue_in would
    schedule it at once): rolled-back work starts nothing. Returns the job when enqueued now."""
    if not isinstance(organization, Organization):
        from shared_apps.organizations import context  # it re-exports this module's helpers

        # no query when it is the active organization; None for a schema no organization owns (the job
        # then fails loudly when it starts)
        organization = context.organization_for_schema_or_none(organization) or organization
    meta: dict[str, Any]
    if isinstance(organization, Organization):
        meta = {
            SCHEMA_META_KEY: organization.schema_name,
            SLUG_META_KEY: organization.slug,
            ORGANIZATION_ID_META_KEY: organization.pk,
        }
    else:
        meta = {SCHEMA_META_KEY: organization}
    target: Any = func  # rq's own type takes a function or a string, not the union
    rq_queue = get_queue(queue)
    if retry is not None:
        kwargs["retry"] = retry
    if delay is None:
        # django-rq's queue defers this call to the commit itself
        return rq_queue.enqueue(target, *args, meta=meta, **kwargs)

    def schedule() -> Job:
        return rq_queue.enqueue_in(delay, target, *args, meta=meta, **kwargs)

    if connection.in_atomic_block:
        transaction.on_commit(schedule)
        return None
    return schedule()


def fan_out(func: JobFunction, *args: Any, queue: str = "default", **kwargs: Any) -> list[str]:
    """Enqueue one job per active organization; returns the schemas it was enqueued for.

    Used by the scheduler for periodic per-organization work (snapshots, token clean-up, ...).
    """
    from shared_apps.organizations.selectors import active_schema_names

    schemas = active_schema_names()
    for schema in schemas:
        enqueue_in_organization(schema, func, *args, queue=queue, **kwargs)
    return schemas
