"""Issue 21: a large import writes its leads with the costly indexes gone and builds them at the end (bulk
mode); small imports keep the row-by-row path; a bulk import that dies leaves no organization without its
indexes (its retry or the sweep builds them); one bulk import at a time per organization."""

from typing import Any

import pytest
from django.db import connection, connections
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.imports import jobs, services
from tenant_apps.imports.models import Import
from tenant_apps.imports.pipeline import bulk
from tenant_apps.leads.models import Lead
from tests.tenant_apps.imports.conftest import SimulatedKill, assert_counts_add_up, leads, run, upload

FILE = (
    "name,email,company\n"
    + "".join(f"Person{i} Surname{i},person{i}@example.com,Company {i}\n" for i in range(8))
    + "Marguerite Fontainebleau,marguerite@example.com,Quillfeather Mills\n"
)
DEFERRED = [index.name for index in bulk.deferrable(Lead, bulk.KEPT["lead"][1])]
KEPT = sorted(bulk.KEPT["lead"][1])


@pytest.fixture
def bulk_from_5(settings: Any, monkeypatch: Any) -> None:
    """Bulk mode from 5 created leads (the default is 100,000), batches of 3 rows."""
    settings.IMPORT_BULK_MIN_ROWS = 5
    monkeypatch.setattr(services, "BATCH_ROWS", 3)


def indexes(org) -> dict[str, bool]:
    """The lead table's indexes: name -> valid (pg_index.indisvalid)."""
    with schema_context(org.schema_name), connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'leads_lead'::regclass"
        )
        return dict(cursor.fetchall())


def watch_batches(monkeypatch: Any, org, *, kill_after: int | None = None) -> list[dict[str, bool]]:
    """The lead table's indexes after each committed batch (and a worker killed after `kill_after`)."""
    seen: list[dict[str, bool]] = []

    def hook(run: Import) -> None:
        seen.append(indexes(org))
        if kill_after is not None and len(seen) == kill_after:
            raise SimulatedKill()

    monkeypatch.setattr(services, "after_batch", hook)
    return seen


def queued(client, content: str = FILE) -> int:
    response = upload(client, content)
    assert response.status_code == 202, response.content
    return response.json()["id"]


def assert_all_indexes_valid(org) -> None:
    present = indexes(org)
    assert all(present.get(name) for name in DEFERRED + KEPT), present


def test_a_large_import_writes_without_the_costly_indexes_and_builds_them_at_the_end(
    client, org, bulk_from_5, monkeypatch
):
    seen = watch_batches(monkeypatch, org)
    done = run(org, queued(client))
    assert done.status == "done" and done.imported == 9
    assert_counts_add_up(done)
    assert len(seen) == 3
    for during in seen:
        assert not set(DEFERRED) & set(during), during  # none maintained row by row
        assert all(during[name] for name in KEPT)  # the dedupe keys stay live
    assert_all_indexes_valid(org)
    with schema_context(org.schema_name):
        assert bulk.indexes_missing("lead") == []


def test_search_finds_bulk_imported_leads_by_name_prefix_and_misspelling(client, org, bulk_from_5, api):
    done = run(org, queued(client))
    assert done.status == "done"
    assert_all_indexes_valid(org)
    searcher = api(Role.ADMIN)
    for query in ("fontainebleau", "fontaine", "Fontainbleau", "quill", "Quilfeather"):
        response = searcher.get("/api/search/", {"q": query, "types": "lead"})
        assert response.status_code == 200, response.content
        assert [row["title"] for row in response.json()["results"]] == ["Marguerite Fontainebleau"], query


def test_a_small_import_keeps_every_index_live(client, org, settings, monkeypatch, make_lead):
    settings.IMPORT_BULK_MIN_ROWS = 5
    monkeypatch.setattr(services, "BATCH_ROWS", 3)
    for index in range(10):  # more leads than the import creates: row by row is cheaper
        make_lead(name=f"Existing {index}", email=f"existing{index}@example.com")
    seen = watch_batches(monkeypatch, org)
    assert run(org, queued(client)).imported == 9
    assert seen and all(set(DEFERRED + KEPT) <= set(during) for during in seen)


def test_below_the_threshold_an_import_keeps_every_index_live(client, org, monkeypatch):
    monkeypatch.setattr(services, "BATCH_ROWS", 3)  # IMPORT_BULK_MIN_ROWS stays at its default
    seen = watch_batches(monkeypatch, org)
    assert run(org, queued(client)).imported == 9
    assert seen and all(set(DEFERRED + KEPT) <= set(during) for during in seen)


def test_a_bulk_import_killed_midway_gets_its_indexes_back_when_retried(
    client, org, bulk_from_5, monkeypatch
):
    import_id = queued(client)
    watch_batches(monkeypatch, org, kill_after=1)
    with pytest.raises(SimulatedKill):
        run(org, import_id)
    assert not set(DEFERRED) & set(indexes(org))  # the worker died with the indexes gone
    monkeypatch.setattr(services, "after_batch", None)
    done = run(org, import_id)  # rq's retry
    assert done.status == "done" and done.imported == 9
    assert_all_indexes_valid(org)


def test_a_failing_bulk_import_builds_the_indexes_before_it_gives_up(client, org, bulk_from_5, monkeypatch):
    import_id = queued(client)

    def fail(run: Import) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "after_batch", fail)
    with pytest.raises(RuntimeError):
        run(org, import_id)  # no rq job: its last attempt
    with schema_context(org.schema_name):
        assert Import.objects.get(pk=import_id).status == "failed"
    assert_all_indexes_valid(org)


def test_the_sweep_builds_the_indexes_an_import_that_died_for_good_left_missing(client, org, bulk_from_5):
    with schema_context(org.schema_name):
        bulk.indexes_defer("lead")
        assert sorted(bulk.indexes_missing("lead")) == sorted(DEFERRED)
        assert sorted(jobs.imports_indexes_sweep()) == sorted(DEFERRED)
        assert jobs.imports_indexes_sweep() == []  # nothing left to do
    assert_all_indexes_valid(org)


def test_an_index_left_invalid_by_an_interrupted_build_is_built_again(org):
    with schema_context(org.schema_name), connection.cursor() as cursor:
        # what a concurrent build interrupted midway leaves behind (rolled back with the test)
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'lead_name_trgm'::regclass")
        assert bulk.indexes_missing("lead") == ["lead_name_trgm"]
        assert jobs.imports_indexes_sweep() == ["lead_name_trgm"]
    assert_all_indexes_valid(org)


def test_while_another_session_holds_the_bulk_lock_an_import_writes_row_by_row_and_the_sweep_waits(
    client, org, bulk_from_5, monkeypatch
):
    other = connections.create_connection("default")  # another worker's bulk import
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [f"{org.schema_name}:imports:bulk"]
            )
            assert cursor.fetchone()[0] is True
        seen = watch_batches(monkeypatch, org)
        done = run(org, queued(client))
        assert done.status == "done" and done.imported == 9
        assert seen and all(set(DEFERRED + KEPT) <= set(during) for during in seen)
        with schema_context(org.schema_name):
            assert jobs.imports_indexes_sweep() == []  # the lock's holder builds what it dropped
    finally:
        other.close()
    assert {lead["email"] for lead in leads(org)} >= {"marguerite@example.com"}
