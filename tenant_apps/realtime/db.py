"""Database access from the streams' async code.

django-tenants keeps the active schema on the connection, not in a context variable, and an async view has
no connection of its own: every query runs in a thread, inside `organization_context(organization)` entered
right there (its database, its row as the connection's tenant).
The threads are a small pool of the process's own (REALTIME_DB_THREADS), so however many streams are open,
their queries (sign-in, replay) use at most that many connections, and an idle stream holds none. With
Django's psycopg pool (DB_POOL, on when serving) each call gives its connection back to the pool when it
ends, so the threads hold none between calls either.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections

from shared_apps.organizations.context import Organization, organization_context
from tenant_apps.realtime import conf

T = TypeVar("T")
_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        threads = max(1, int(conf.value("REALTIME_DB_THREADS")))
        _executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="realtime-db")
    return _executor


async def in_organization(
    organization: Organization,
    fn: Callable[..., T],
    *args: Any,
    request_thread: bool = False,
    **kwargs: Any,
) -> T:
    """Run `fn(*args, **kwargs)` in a pool thread inside `organization` (organization_context).
    `request_thread`: in the request's own thread instead (under WSGI, where that thread holds the
    request's connection)."""

    def call() -> T:
        if not request_thread:
            # like a request boundary: drop a connection that broke or outlived CONN_MAX_AGE
            close_old_connections()
        try:
            with organization_context(organization):
                try:
                    return fn(*args, **kwargs)
                finally:
                    if not request_thread:
                        release(connections[DEFAULT_DB_ALIAS])  # the organization's database's connection
        finally:
            if not request_thread:
                release(connections[DEFAULT_DB_ALIAS])  # the primary's (the routing of public models)

    if request_thread:
        return await sync_to_async(call)()
    return await sync_to_async(call, thread_sensitive=False, executor=executor())()


def release(wrapper: Any) -> None:
    """A pooled connection goes back to the pool (a persistent one stays, as CONN_MAX_AGE says)."""
    if wrapper.settings_dict["OPTIONS"].get("pool") and not wrapper.in_atomic_block:
        wrapper.close()
