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

import time
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import get_limit_set_calls
from psycopg.pq import TransactionStatus
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


class DatabaseWrapper(TenantDatabaseWrapper):
    search_path_set_schemas: list[str] | None
    _setting_search_path: bool

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
