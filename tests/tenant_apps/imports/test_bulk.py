"""Issue 21: a large import writes its leads with the costly indexes gone and builds them at the end (bulk
mode); small imports keep the row-by-row path; a bulk import that dies leaves no organization without its
indexes (its retry or the sweep builds them); one bulk import at a time per organization."""

import threading
import time
from typing import Any

import pytest
from django.db import connection, connections
from django_tenants.utils import schema_context

from shared_apps.users.models import Role, User
from tenant_apps.activities.models import Activity, ActivityType
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
DEFERRED = [index.name for model, kept in bulk.TABLES["lead"] for index in bulk.deferrable(model, kept)]
KEPT = sorted(bulk.TABLES["lead"][0][1])
ACTIVITY_INDEXES = sorted(index.name for index in Activity._meta.indexes)


@pytest.fixture
def bulk_from_5(settings: Any, monkeypatch: Any) -> None:
    """Bulk mode from 5 created leads (the default is 100,000), batches of 3 rows."""
    settings.IMPORT_BULK_MIN_ROWS = 5
    monkeypatch.setattr(services, "BATCH_ROWS", 3)


def indexes(org) -> dict[str, bool]:
    """The lead and activity tables' indexes: name -> valid (pg_index.indisvalid)."""
    with schema_context(org.schema_name), connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid IN ('leads_lead'::regclass, 'activities_activity'::regclass)"
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
    assert all(present.get(name) for name in DEFERRED + KEPT + ACTIVITY_INDEXES), present


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
        assert all(during[name] for name in KEPT)  # the dedupe keys and the appended-to b-trees stay live
        # a first import into an empty activity table too: a lead's timeline stays indexed
        assert all(during[name] for name in ACTIVITY_INDEXES), during
    assert_all_indexes_valid(org)
    with schema_context(org.schema_name):
        assert bulk.indexes_missing("lead") == []


def test_the_indexes_kept_live_are_the_lead_models_and_the_costly_ones_are_not_among_them():
    names = {index.name for index in Lead._meta.indexes}
    assert names >= bulk.APPENDED and set(KEPT) <= names  # a renamed index would silently be dropped
    assert set(ACTIVITY_INDEXES) >= bulk.LEGACY_DEFERRED  # ... or never restored
    # the default list, the board and a rep's pipeline keep theirs while an import runs
    assert {"lead_alive_created_idx", "lead_board_column_idx", "lead_owner_stage_idx"} <= set(KEPT)
    # every GIN, and every b-tree on a value imported rows spread over, is built at the end
    gins = {index.name for index in Lead._meta.indexes if type(index).__name__ == "GinIndex"}
    assert gins <= set(DEFERRED) and {"lead_by_value_idx", "lead_by_name_idx", "lead_name_prefix"} <= set(
        DEFERRED
    )


def test_a_bulk_import_leaves_the_planner_the_size_of_both_tables(client, org, bulk_from_5):
    """The lead table is analyzed after its builds, the activity table (no build: its indexes stay live)
    beside them: a first import's million activities are not planned as the empty table they were."""
    with schema_context(org.schema_name), connection.cursor() as cursor:
        # never analyzed (ANALYZE writes pg_class in place: an earlier test's survives its rollback)
        cursor.execute(
            "UPDATE pg_class SET reltuples = -1 "
            "WHERE oid IN ('leads_lead'::regclass, 'activities_activity'::regclass)"
        )
    done = run(org, queued(client))
    assert done.status == "done" and done.imported == 9
    with schema_context(org.schema_name), connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class "
            "WHERE oid IN ('leads_lead'::regclass, 'activities_activity'::regclass)"
        )
        assert dict(cursor.fetchall()) == {"leads_lead": 9, "activities_activity": 9}


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
        bulk.indexes_defer("lead", 1000)
        assert sorted(bulk.indexes_missing("lead")) == sorted(DEFERRED)
        assert sorted(jobs.imports_indexes_sweep()) == sorted(DEFERRED)
        assert jobs.imports_indexes_sweep() == []  # nothing left to do
    assert_all_indexes_valid(org)


def test_the_sweep_builds_an_index_an_earlier_versions_import_dropped(org):
    """Before they stayed live, a first bulk import dropped the activity indexes: an import that died for good
    across an upgrade leaves them missing, and the sweep builds them."""
    with schema_context(org.schema_name), connection.cursor() as cursor:
        cursor.execute("DROP INDEX activity_lead_created_idx")
        assert bulk.indexes_missing("lead") == ["activity_lead_created_idx"]
        assert jobs.imports_indexes_sweep() == ["activity_lead_created_idx"]
    assert_all_indexes_valid(org)


def test_the_sweep_leaves_an_index_no_import_drops_to_its_migration(org):
    """A declared index that is absent while no import drops it is one a pending migration is about to add
    (new code runs before `migrate` in some deployments): built by the sweep first, the migration's CREATE
    INDEX would fail on the name."""
    with schema_context(org.schema_name), connection.cursor() as cursor:
        cursor.execute("DROP INDEX activity_contact_time_idx; DROP INDEX lead_alive_created_idx")
        assert bulk.indexes_missing("lead") == []
        assert jobs.imports_indexes_sweep() == []
        assert {"activity_contact_time_idx", "lead_alive_created_idx"}.isdisjoint(indexes(org))


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


def test_requests_during_a_bulk_import_succeed_and_the_indexes_are_built_concurrently(
    settings, monkeypatch, django_db_blocker
):
    """Committed work on an organization of its own, as the worker and the server run it (no test
    transaction): while a bulk import writes and builds, other requests list, create and search leads; the
    import drops and builds its indexes CONCURRENTLY (never a lock that makes requests wait for a build)."""
    from shared_apps.organizations.services import (
        organization_delete,
        organization_provision,
        organization_purge,
    )
    from tests.conftest import PASSWORD, InThread, client_for

    settings.IMPORT_BULK_MIN_ROWS = 5
    monkeypatch.setattr(services, "BATCH_ROWS", 3)
    slug = "bulkconcurrent"
    statements: list[str] = []
    outcomes: list[tuple[str, int, float]] = []
    importing = threading.Event()

    def provision():
        return organization_provision(
            name="Bulk concurrent", slug=slug, admin_email=f"admin@{slug}.test", admin_password=PASSWORD
        )

    def admin_of(organization):
        with schema_context(organization.schema_name):
            return User.objects.get(email=f"admin@{slug}.test")

    def start(organization):
        return queued(client_for(organization, admin_of(organization)))

    def record(execute, sql, params, many, context):
        if "INDEX" in sql.upper():
            statements.append(sql)
        return execute(sql, params, many, context)

    def slowly(run: Import) -> None:  # each batch takes a while: the requests overlap the writing
        time.sleep(0.3)

    create = bulk._create

    def create_slowly(model, index):  # and the building
        time.sleep(0.1)
        create(model, index)

    monkeypatch.setattr(services, "after_batch", slowly)
    monkeypatch.setattr(bulk, "_create", create_slowly)

    def work(organization, import_id):
        with connection.execute_wrapper(record):
            try:
                return run(organization, import_id)
            finally:
                importing.clear()

    def requests(organization):
        client = client_for(organization, admin_of(organization))
        count = 0
        while importing.is_set() or count < 3:
            count += 1
            for name, method, path, data in (
                ("list", "get", "/api/leads/", None),
                ("create", "post", "/api/leads/", {"name": f"Walk-in {count}"}),
                ("search", "get", "/api/search/", {"q": "person", "types": "lead"}),
            ):
                began = time.perf_counter()
                response = getattr(client, method)(path, data, format="json" if method == "post" else None)
                outcomes.append((name, response.status_code, time.perf_counter() - began))

    def cleanup(organization):
        organization_purge(organization=organization_delete(organization=organization), confirm=slug)

    with django_db_blocker.unblock():
        organization = InThread(provision).join()
        try:
            import_id = InThread(start, organization).join()
            importing.set()
            worker = InThread(work, organization, import_id)
            requester = InThread(requests, organization)
            done = worker.join()
            requester.join()
            assert done.status == "done" and done.imported == 9
            with schema_context(organization.schema_name):
                assert bulk.indexes_missing("lead") == []
            created = sum(1 for name, status, _ in outcomes if name == "create")
            with schema_context(organization.schema_name):
                assert Lead.objects.count() == 9 + created
        finally:
            InThread(cleanup, organization).join()
    assert {(name, status) for name, status, _ in outcomes} == {
        ("list", 200),
        ("create", 201),
        ("search", 200),
    }
    # the lead and activity tables' index statements (not those of the import's own staging tables)
    built = [
        sql for sql in statements if sql.startswith(("CREATE INDEX", "DROP INDEX")) and "imports_" not in sql
    ]
    assert len(built) == 2 * len(DEFERRED), built
    assert all("CONCURRENTLY" in sql for sql in built), built
    # the GIN indexes first, the search vector's (the longest, beside the vocabulary) first of all
    creates = [sql.split('"')[1] for sql in built if sql.startswith("CREATE INDEX")]
    gins = {index.name for index in Lead._meta.indexes if type(index).__name__ == "GinIndex"}
    assert creates[0] == "lead_search_gin" and set(creates[: len(gins)]) == gins, creates


def test_activity_indexes_stay_live_when_the_organization_has_more_activities_than_the_import_creates(
    client, org, bulk_from_5, monkeypatch, make_lead
):
    lead = make_lead(name="Existing", email="existing@example.com")
    with schema_context(org.schema_name):
        Activity.objects.bulk_create(
            [Activity(lead=lead, type=ActivityType.NOTE, subject=f"note {i}") for i in range(20)]
        )
    seen = watch_batches(monkeypatch, org)
    assert run(org, queued(client)).imported == 9
    lead_deferred = [index.name for index in bulk.deferrable(*bulk.TABLES["lead"][0])]
    for during in seen:
        assert not set(lead_deferred) & set(during)
        assert all(during[name] for name in ACTIVITY_INDEXES), during
    assert_all_indexes_valid(org)


def test_a_bulk_import_shows_phase_indexing_while_it_builds(client, org, bulk_from_5, monkeypatch):
    """Every row is written before the build (a minute at 1M): the import says so instead of "writing"."""
    phases: list[tuple[str, str, int]] = []
    build = bulk.indexes_build

    def observed(record_type: str) -> None:
        with schema_context(org.schema_name):
            current = Import.objects.get()
            phases.append((current.status, current.phase, current.imported))
        build(record_type)

    monkeypatch.setattr(bulk, "indexes_build", observed)
    done = run(org, queued(client))
    assert phases == [("running", "indexing", 9)]
    assert done.status == "done" and done.phase == "finished"
    response = client.get(f"/api/imports/{done.pk}/")
    assert response.json()["phase"] == "finished"


def test_a_worker_killed_while_indexing_resumes_with_the_build_not_the_plan(
    client, org, bulk_from_5, monkeypatch
):
    """The retry of an import that died in phase "indexing" builds the indexes; it does not read the file and
    plan it again (every row is written already)."""
    import_id = queued(client)
    build = bulk.indexes_build

    def killed(record_type: str) -> None:
        raise SimulatedKill()

    monkeypatch.setattr(bulk, "indexes_build", killed)
    with pytest.raises(SimulatedKill):
        run(org, import_id)
    with schema_context(org.schema_name):
        assert Import.objects.get(pk=import_id).phase == "indexing"
    monkeypatch.setattr(bulk, "indexes_build", build)
    planned: list[int] = []
    monkeypatch.setattr(services.Pipeline, "build", lambda self, **kwargs: planned.append(1))
    done = run(org, import_id)  # rq's retry
    assert planned == []
    assert done.status == "done" and done.imported == 9 and done.phase == "finished"
    assert_all_indexes_valid(org)
