"""The data migration that brings pipelines to existing organizations, run for real: a schema migrated up to
just before it, holding deals and their stage history as the old code wrote them, then migrated forward."""

from __future__ import annotations

import json

import pytest
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import AddIndex, RemoveIndex
from django.utils import timezone

SCHEMA = "org_pipeline_migration_test"
BEFORE = ("opportunities", "0007_pipelines")


def _targets(executor: MigrationExecutor, opportunities: tuple[str, str] | None) -> list[tuple[str, str]]:
    leaves = [leaf for leaf in executor.loader.graph.leaf_nodes() if leaf[0] != "opportunities"]
    return leaves + ([opportunities] if opportunities else [])


@pytest.fixture
def old_schema(db, monkeypatch):
    """A tenant schema with every migration applied but the pipelines' data migration and after. Inside the
    test's transaction the big tables' CREATE / DROP INDEX CONCURRENTLY migrations build and drop their
    indexes plainly (the schema is empty)."""
    monkeypatch.setattr(AddIndexConcurrently, "database_forwards", AddIndex.database_forwards)
    monkeypatch.setattr(RemoveIndexConcurrently, "database_forwards", RemoveIndex.database_forwards)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{SCHEMA}"')
    connection.set_schema(SCHEMA)
    executor = MigrationExecutor(connection)
    executor.migrate(_targets(executor, BEFORE))
    yield
    connection.set_schema_to_public()


def test_existing_deals_move_onto_the_default_pipeline_with_their_history(old_schema):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_account (name, tags, created_at, updated_at, domain, industry, size,"
            " status) VALUES ('Initech', '{}', now(), now(), '', '', '', 'active') RETURNING id"
        )
        (account_id,) = cursor.fetchone()
        deals = {}
        for name, stage, closed in (("open", "PROPOSAL", False), ("lost", "CLOSED_LOST", True)):
            cursor.execute(
                "INSERT INTO opportunities_opportunity (tags, created_at, updated_at, name, amount, currency,"
                " stage, probability, closed_at, close_reason, account_id)"
                " VALUES ('{}', now(), now(), %s, 100, 'USD', %s, 50, %s, %s, %s) RETURNING id",
                [name, stage, timezone.now() if closed else None, "too dear" if closed else "", account_id],
            )
            (deals[name],) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO activities_activity (opportunity_id, account_id, type, subject, body, metadata,"
            " occurred_at, created_at, message_id, thread_id) VALUES (%s, %s, 'STAGE_CHANGE',"
            ' \'Moved to PROPOSAL\', \'\', \'{"from": "QUALIFICATION", "to": "PROPOSAL"}\', now(), now(),'
            " '', '')",
            [deals["open"], account_id],
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # one test transaction holds every migration
    executor = MigrationExecutor(connection)
    executor.migrate(_targets(executor, ("opportunities", "0009_opportunity_pipeline_required")))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT o.name, p.name, p.is_default, s.key, s.name, s.probability, o.close_reason, o.probability"
            " FROM opportunities_opportunity o JOIN opportunities_pipeline p ON p.id = o.pipeline_id"
            " JOIN opportunities_pipelinestage s ON s.id = o.pipeline_stage_id ORDER BY o.name"
        )
        assert cursor.fetchall() == [
            ("lost", "Sales", True, "CLOSED_LOST", "Closed lost", 0, "too dear", 50),
            ("open", "Sales", True, "PROPOSAL", "Proposal", 50, "", 50),
        ]
        cursor.execute("SELECT key, probability FROM opportunities_pipelinestage ORDER BY position")
        assert cursor.fetchall() == [
            ("QUALIFICATION", 10),
            ("DISCOVERY", 25),
            ("PROPOSAL", 50),
            ("NEGOTIATION", 75),
            ("CLOSED_WON", 100),
            ("CLOSED_LOST", 0),
        ]
        cursor.execute("SELECT metadata FROM activities_activity WHERE opportunity_id = %s", [deals["open"]])
        stored = cursor.fetchone()[0]
        stored = json.loads(stored) if isinstance(stored, str) else stored
        assert stored == {"from": "QUALIFICATION", "to": "PROPOSAL"}  # history untouched
        cursor.execute("SELECT count(*) FROM opportunities_lostreason")
        assert cursor.fetchone()[0] >= 1
