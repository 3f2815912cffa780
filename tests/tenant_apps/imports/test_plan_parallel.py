"""Issue 21: a large file's plan (the one pass over the staged rows that normalizes and checks every value)
is read by parallel workers too; a small file's stays in the job's own process (no workers to start)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from tenant_apps.imports.pipeline import plan
from tests.tenant_apps.imports.conftest import assert_counts_add_up, leads

FILE = "name,email,phone,company\n" + "".join(
    f"Person {i},person{i}@example.com,+1 (555) 010-{i:04d},Company {i % 3} Inc\n" for i in range(30)
)


def planned_with(monkeypatch: Any, imported: Any) -> tuple[Any, str]:
    """Import FILE; returns the import and the plan PostgreSQL chose for the pass over the staged rows."""
    seen: list[str] = []

    def explain(execute, sql, params, many, context):
        if sql.startswith("CREATE UNLOGGED TABLE") and "_plan" in sql.split(" AS ", 1)[0]:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN " + sql.split(" AS ", 1)[1], params)
                seen.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        done = imported(FILE)
    assert len(seen) == 1
    return done, seen[0]


def test_a_large_files_plan_is_read_by_parallel_workers(monkeypatch, imported, org) -> None:
    monkeypatch.setattr(plan, "PARALLEL_PLAN_ROWS", 10)  # 30 rows stand for a large file
    done, chosen = planned_with(monkeypatch, imported)
    assert "Gather" in chosen and "Parallel Seq Scan" in chosen, chosen
    assert done.imported == 30
    assert_counts_add_up(done)
    assert sorted(lead["phone_normalized"] for lead in leads(org))[:2] == ["+15550100000", "+15550100001"]


@pytest.mark.parametrize("rows", [plan.PARALLEL_PLAN_ROWS])
def test_a_small_files_plan_stays_in_one_process(monkeypatch, imported, rows) -> None:
    assert rows > 30
    done, chosen = planned_with(monkeypatch, imported)
    assert "Gather" not in chosen, chosen
    assert done.imported == 30


def test_the_settings_go_back_to_the_servers_after_the_plan(monkeypatch, imported) -> None:
    monkeypatch.setattr(plan, "PARALLEL_PLAN_ROWS", 10)
    after: list[str] = []

    def watch(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith("CREATE INDEX ON") and "_plan" in sql:  # the statement after the pass
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('parallel_tuple_cost')")
                after.append(cursor.fetchone()[0])
        return result

    with connection.execute_wrapper(watch):
        imported(FILE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reset_val FROM pg_settings WHERE name = 'parallel_tuple_cost'")
        assert after == [cursor.fetchone()[0]]
