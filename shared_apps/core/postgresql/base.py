"""The database backend: django-tenants' PostgreSQL backend, minus two round trips a request paid for
nothing when its connection had just served the same organization.

`SET search_path`: django-tenants forgets the path it set whenever the connection wrapper closes (with the
psycopg pool, at the end of every request) or enters an organization, so every request set it again, even on
a pooled connection that had just served the same organization. Here each physical connection remembers the
path it holds *for good*: the one a `SET` issued outside any transaction left (a `SET` inside a transaction
is undone by a rollback, so it is remembered only as "unknown"). A cursor that wants that path skips the
`SET`. Any statement that names a search path, or a `RESET`/`DISCARD`, run through Django's cursors makes
the connection's path unknown again; a new physical connection knows nothing. So the path a query runs
under is always the one django-tenants would have set (tests/ops/test_connections.py).

The pool's health check: Django's psycopg pool checks every connection it hands out (a round trip) when
CONN_HEALTH_CHECKS is on. A connection handed back less than DB_POOL_CHECK_AFTER seconds ago without error
is handed out unchecked; one idle for longer is checked as before.
"""

from __future__ import annotations

import datetime
import time
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.db.backends.postgresql import base as django_postgresql
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import get_limit_set_calls
from psycopg import adapters
from psycopg.adapt import AdaptersMap
from psycopg.pq import Format, TransactionStatus
from psycopg_pool import ConnectionPool

# physical connection -> the search path it holds outside any transaction (absent: unknown)
_held_path: WeakKeyDictionary[Any, tuple[str, ...]] = WeakKeyDictionary()
# physical connection -> when Django last handed it back to the pool (time.monotonic())
_handed_back: WeakKeyDictionary[Any, float] = WeakKeyDictionary()


def held_path(raw: Any) -> tuple[str, ...] | None:
    """The search path the physical connection is known to hold (None: unknown)."""
    return _held_path.get(raw)


def _may_change_path(sql: Any) -> bool:
    if not isinstance(sql, str):
        return True  # (a composed statement: not worth reading)
    if "_path" in sql or "_PATH" in sql or "_Path" in sql:
        return "search_path" in sql.lower()
    head = sql.lstrip()[:7].upper()
    return head.startswith(("RESET", "DISCARD"))


class _Watching:
    """Forgets the connection's path before a statement that may change it."""

    db: Any

    def execute(self, sql: Any, params: Any = None) -> Any:
        if _may_change_path(sql) and self.db.connection is not None:
            _held_path.pop(self.db.connection, None)
        return super().execute(sql, params)  # type: ignore[misc]

    def executemany(self, sql: Any, param_list: Any) -> Any:
        if _may_change_path(sql) and self.db.connection is not None:
            _held_path.pop(self.db.connection, None)
        return super().executemany(sql, param_list)  # type: ignore[misc]


class WatchingCursorWrapper(_Watching, CursorWrapper):
    pass


class WatchingCursorDebugWrapper(_Watching, CursorDebugWrapper):
    pass


def check_unless_fresh(conn: Any) -> None:
    """The pool's check, skipped for a connection handed back moments ago."""
    handed_back = _handed_back.get(conn)
    if handed_back is not None and time.monotonic() - handed_back < settings.DB_POOL_CHECK_AFTER:
        return
    ConnectionPool.check_connection(conn)


# psycopg's own timestamptz loader (compiled, with psycopg's C or binary package): its values carry the
# session's zone, `datetime.UTC` for a UTC session. Django registers a Python subclass that parses the text in
# Python and replaces the zone with the connection's: ~4 µs a value here, 1.1 ms of a 50-lead page's three
# date-times a row, against 0.5 ms. For a UTC connection (USE_TZ, no TIME_ZONE in DATABASES: Django sets
# every session to UTC) both give the same datetimes. Connections made here use psycopg's.
_TIMESTAMPTZ = adapters.types["timestamptz"].oid
_StockTimestamptzLoader: Any = adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)
_utc_contexts: dict[int, AdaptersMap] = {}


class DatabaseWrapper(TenantDatabaseWrapper):
    search_path_set_schemas: list[str] | None
    _setting_search_path: bool

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        template = params.get("context")
        if template is not None and settings.USE_TZ and self.timezone is datetime.UTC:
            context = _utc_contexts.get(id(template))
            if context is None:  # one per Django template (kept by Django for the process)
                context = _utc_contexts[id(template)] = AdaptersMap(template)
                context.register_loader("timestamptz", _StockTimestamptzLoader)
            params["context"] = context
        return params

    def create_cursor(self, name: str | None = None) -> Any:
        if self.connection.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT) is not _StockTimestamptzLoader:
            return super().create_cursor(name)
        # a connection made with psycopg's loader (get_connection_params): UTC, as this wrapper is. Django's
        # create_cursor compares the loader's `timezone` attribute, which the compiled class has no room for;
        # otherwise this is what it does.
        if not name:
            return self.connection.cursor()
        withhold = self.connection.autocommit  # a holdable cursor, used outside a transaction
        if self.settings_dict["OPTIONS"].get("server_side_binding") is not True:
            server_side: Any = django_postgresql.ServerSideCursor  # (its stub lacks psycopg's signature)
            return server_side(self.connection, name=name, scrollable=False, withhold=withhold)
        return self.connection.cursor(name, scrollable=False, withhold=withhold)

    @property
    def pool(self) -> Any:
        pool = super().pool
        if pool is not None and getattr(pool, "_check", None) is ConnectionPool.check_connection:
            pool._check = check_unless_fresh  # Django passes no way to choose the check
        return pool

    def make_cursor(self, cursor: Any) -> Any:
        return WatchingCursorWrapper(cursor, self)

    def make_debug_cursor(self, cursor: Any) -> Any:
        return WatchingCursorDebugWrapper(cursor, self)

    def _handle_search_path(self, cursor: Any = None) -> None:
        if self._setting_search_path or (get_limit_set_calls() and self.search_path_set_schemas):
            return
        raw = self.connection
        if raw is not None and self.schema_name:
            wanted = self._get_cursor_search_paths()
            if _held_path.get(raw) == tuple(wanted):
                self.search_path_set_schemas = wanted
                return
        outside_transaction = raw is not None and raw.autocommit and not self.in_atomic_block
        super()._handle_search_path(cursor)
        if raw is None:
            return
        if self.search_path_set_schemas is not None and outside_transaction:
            _held_path[raw] = tuple(self.search_path_set_schemas)
        else:
            _held_path.pop(raw, None)

    def _close(self) -> None:
        raw = self.connection
        if raw is not None and self.pool is not None:
            if self.errors_occurred or raw.info.transaction_status != TransactionStatus.IDLE:
                _handed_back.pop(raw, None)
            else:
                _handed_back[raw] = time.monotonic()
        super()._close()
