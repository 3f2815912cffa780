"""Database connections that serve many organizations' schemas, safely and with bounded memory.

Safety: django-tenants keeps the active schema on the connection wrapper and issues `SET search_path`
before the first query after every switch (`set_tenant()` and `close()` forget the path last set, so a
connection reused by the next request, or handed over by Django's psycopg pool, is always set again).
tests/ops/test_connections.py proves it for persistent connections and the pool.

Memory: PostgreSQL caches the catalog entries (tables, indexes, plans) of every schema a session touches,
and those caches only shrink when the session ends. A long-lived connection that serves hundreds of
organizations grows by hundreds of kilobytes per schema. So each physical connection counts the distinct
schemas it served, and once that passes DB_CONN_MAX_SCHEMAS it is closed at the next request or job
boundary (a pool discards the closed connection and opens a fresh one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse

# physical (psycopg) connection -> the schemas it served; entries go when the connection object does
_schemas_served: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()


def _open_wrappers() -> list[Any]:
    """This thread's wrappers holding an open connection (an alias switched by placement counts once)."""
    found: dict[int, Any] = {}
    for wrapper in connections.all(initialized_only=True):
        if getattr(wrapper, "connection", None) is not None:
            found.setdefault(id(wrapper), wrapper)
    return list(found.values())


def schemas_served(wrapper: Any) -> set[str]:
    """The distinct schemas the wrapper's current physical connection has served (counted at boundaries)."""
    raw = wrapper.connection
    return set(_schemas_served.get(raw, ())) if raw is not None else set()


def boundary(schema_name: str | None = None) -> list[str]:
    """A request or job is over: count the schema each open connection served and close the ones that have
    now served more than DB_CONN_MAX_SCHEMAS schemas. `schema_name` names the schema served when the caller
    has already left it (a job, after its schema_context). Skipped inside a transaction (tests, eager
    jobs): a connection cannot be closed under an atomic block. Returns the aliases closed."""
    limit = getattr(settings, "DB_CONN_MAX_SCHEMAS", 0) or 0
    closed = []
    for wrapper in _open_wrappers():
        raw = wrapper.connection
        served = _schemas_served.setdefault(raw, set())
        schema = schema_name or getattr(wrapper, "schema_name", None)
        if schema:
            served.add(schema)
        if limit <= 0 or len(served) <= limit or wrapper.in_atomic_block:
            continue
        # Closed here, before Django's own end-of-request handling: with the psycopg pool, Django would
        # otherwise hand the connection back to the pool, caches and all. The pool discards a closed one.
        raw.close()
        wrapper.close()
        closed.append(wrapper.alias)
    return closed


def job_boundary(schema_name: str | None) -> list[str]:
    """For the job wrapper (shared_apps.organizations.jobs.OrganizationJob.perform), once the job has
    run and before Django's connection clean-up: the schema the job ran in, from its meta (None for a public
    job)."""
    return boundary(schema_name)


class ConnectionRecycleMiddleware:
    """Calls `boundary()` when the response is closed, after a streamed body has been sent and before
    Django's request_finished handling returns a pooled connection or keeps a persistent one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Resource closers run on response.close(), before the request_finished signal is sent.
        response._resource_closers.append(boundary)  # type: ignore[attr-defined]
        return response
