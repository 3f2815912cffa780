"""Per-field indexes in the organization's own schema, built and dropped without blocking writes
(CREATE/DROP INDEX CONCURRENTLY, which cannot run inside a transaction: the jobs call these outside one).
A caller already inside a transaction (a test, a command wrapped in atomic) gets the plain statement
instead: the same index, built under the table's SHARE lock."""

from __future__ import annotations

from shared_apps.core.db import connection
from tenant_apps.customfields.models import FieldKind
from tenant_apps.customfields.queries import value_sql

UNINDEXED = (FieldKind.LONG_TEXT,)


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def index_sql(*, table: str, name: str, kind: str, key: str, concurrently: bool) -> str:
    schema = _quoted(connection.schema_name)
    how = "CONCURRENTLY " if concurrently else ""
    method = "gin" if kind == FieldKind.MULTI_SELECT else "btree"
    expression = value_sql(kind, key)
    return (
        f"CREATE INDEX {how}IF NOT EXISTS {_quoted(name)} ON {schema}.{_quoted(table)} "
        f"USING {method} ({expression})"
    )


def index_build(*, table: str, name: str, kind: str, key: str) -> None:
    """Build the index (idempotent). An invalid index left by an interrupted concurrent build is dropped
    first: IF NOT EXISTS would keep it, unused, forever."""
    concurrently = not connection.in_atomic_block
    index_drop(name=name, only_invalid=True)
    with connection.cursor() as cursor:
        cursor.execute(index_sql(table=table, name=name, kind=kind, key=key, concurrently=concurrently))
        # an expression index has no statistics until the table is analyzed: without them the planner
        # guesses (0.5% of the rows for a range) and may walk the list's ordering index instead
        cursor.execute(f"ANALYZE {_quoted(connection.schema_name)}.{_quoted(table)}")


def index_drop(*, name: str, only_invalid: bool = False) -> None:
    with connection.cursor() as cursor:
        if only_invalid:
            cursor.execute(
                "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s AND NOT i.indisvalid",
                [connection.schema_name, name],
            )
            if cursor.fetchone() is None:
                return
        how = "" if connection.in_atomic_block else "CONCURRENTLY "
        cursor.execute(f"DROP INDEX {how}IF EXISTS {_quoted(connection.schema_name)}.{_quoted(name)}")


def index_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
            [connection.schema_name, name],
        )
        return cursor.fetchone() is not None
