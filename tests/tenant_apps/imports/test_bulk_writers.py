"""Issue 21: a bulk import writes its batches on IMPORT_WRITERS connections at once and commits them in file
order, so the checkpoint still says which rows are written: a batch that finishes before the one ahead of it
waits for it, a batch failing rolls back the ones after it, a killed worker's retry writes every row once;
the search vocabulary, which the batches defer, gets the imported words at the end.

These run on an organization of their own with committed data, as the worker runs imports (the writers'
connections cannot see a test transaction's rows)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.imports import services
from tenant_apps.imports.models import Import, ImportChange, ImportRowError
from tenant_apps.imports.pipeline import Pipeline
from tenant_apps.leads.models import Lead
from tenant_apps.search.models import SearchWord
from tests.conftest import PASSWORD, InThread, client_for
from tests.tenant_apps.imports.conftest import SimulatedKill, assert_counts_add_up, run, upload

SLUG = "bulkwriters"
ROWS = 20
FILE = (
    "name,email,company\n"
    + "".join(f"Person{i} Zanzibarian,person{i}@example.com,Quorvex {i}\n" for i in range(ROWS - 2))
    + ",nameless@example.com,Nowhere\n"  # invalid: no name
    + "Again Person,person3@example.com,Quorvex\n"  # a duplicate of row 4 (same email)
)
CREATES = ROWS - 2


@pytest.fixture
def organization(settings: Any, monkeypatch: Any, db: None, django_db_blocker: Any) -> Iterator[Organization]:
    """A committed organization of its own; bulk mode from 5 leads, batches of 3 rows, two writers."""
    from shared_apps.organizations.services import (
        organization_delete,
        organization_provision,
        organization_purge,
    )

    settings.IMPORT_BULK_MIN_ROWS = 5
    settings.IMPORT_WRITERS = 2
    monkeypatch.setattr(services, "BATCH_ROWS", 3)

    def provision() -> Organization:
        return organization_provision(
            name="Bulk writers", slug=SLUG, admin_email=f"admin@{SLUG}.test", admin_password=PASSWORD
        )

    def cleanup(org: Organization) -> None:
        organization_purge(organization=organization_delete(organization=org), confirm=SLUG)

    with django_db_blocker.unblock():
        org = InThread(provision).join()
        try:
            yield org
        finally:
            InThread(cleanup, org).join()


def queued(org: Organization) -> int:
    """The file uploaded through the API by the organization's admin (committed, in a thread of its own)."""

    def start() -> int:
        with schema_context(org.schema_name):
            admin = User.objects.get(email=f"admin@{SLUG}.test")
        response = upload(client_for(org, admin), FILE)
        assert response.status_code == 202, response.content
        return response.json()["id"]

    return InThread(start).join()


def work(org: Organization, import_id: int) -> Import:
    """The import's job in a thread of its own (its own connections, outside the test's transaction)."""
    return InThread(run, org, import_id).join()


def in_org(org: Organization, fn: Any) -> Any:
    def read() -> Any:
        with schema_context(org.schema_name):
            return fn()

    return InThread(read).join()


def assert_written_once(org: Organization, import_id: int) -> None:
    def check() -> None:
        done = Import.objects.get(pk=import_id)
        assert done.status == "done", done.error
        assert (done.imported, done.skipped, done.failed) == (CREATES, 1, 1)
        assert_counts_add_up(done)
        emails = sorted(Lead.objects.values_list("email", flat=True))
        assert emails == sorted(f"person{i}@example.com" for i in range(CREATES))  # each once
        created = Activity.objects.filter(type=ActivityType.CREATED, lead__isnull=False)
        assert created.count() == CREATES and created.values("lead").distinct().count() == CREATES
        changed = [i for ids in ImportChange.objects.values_list("record_ids", flat=True) for i in ids]
        assert sorted(changed) == sorted(Lead.objects.values_list("id", flat=True))
        assert ImportRowError.objects.filter(import_run_id=import_id).count() == 2
        # the vocabulary the batches deferred: every imported name's and company's words
        words = set(SearchWord.objects.filter(word__startswith="person").values_list("word", flat=True))
        assert words == {f"person{i}" for i in range(CREATES)}
        assert SearchWord.objects.filter(word__in=["zanzibarian", "quorvex"]).count() == 2

    in_org(org, check)


def test_batches_are_written_on_two_connections_and_every_row_once(organization, monkeypatch):
    pids: set[int] = set()

    def hook(run: Import) -> None:  # in the writer that committed the batch
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.add(cursor.fetchone()[0])

    monkeypatch.setattr(services, "after_batch", hook)
    import_id = queued(organization)
    work(organization, import_id)
    assert len(pids) == 2
    assert_written_once(organization, import_id)


def test_a_batch_finished_before_the_one_ahead_of_it_commits_after_it(organization, monkeypatch):
    order: list[int] = []
    lock = threading.Lock()
    write_batch, batch_done = Pipeline.write_batch, services._batch_done

    def slow_first(self: Pipeline, low: int, high: int, *, dry_run: bool) -> Any:
        counts = write_batch(self, low, high, dry_run=dry_run)
        if low == 0:
            time.sleep(0.5)  # the second batch is written meanwhile, and waits
        return counts

    def recorded(run: Import, *, checkpoint: int, **kwargs: Any) -> None:
        with lock:
            order.append(checkpoint)
        batch_done(run, checkpoint=checkpoint, **kwargs)

    monkeypatch.setattr(Pipeline, "write_batch", slow_first)
    monkeypatch.setattr(services, "_batch_done", recorded)
    import_id = queued(organization)
    work(organization, import_id)
    assert order == [*range(3, ROWS, 3), ROWS]
    assert_written_once(organization, import_id)


def test_a_failing_batch_rolls_back_the_batches_after_it_and_the_retry_writes_the_rest(
    organization, monkeypatch
):
    write_batch = Pipeline.write_batch
    failing = {"on": True}

    def fail_second(self: Pipeline, low: int, high: int, *, dry_run: bool) -> Any:
        counts = write_batch(self, low, high, dry_run=dry_run)
        if low == 3 and failing["on"]:
            time.sleep(0.3)  # the third batch is written meanwhile, and must not commit
            raise RuntimeError("disk full")
        return counts

    monkeypatch.setattr(Pipeline, "write_batch", fail_second)
    monkeypatch.setattr(services, "_last_attempt", lambda: False)  # rq retries it
    import_id = queued(organization)
    with pytest.raises(RuntimeError, match="disk full"):
        work(organization, import_id)

    def state() -> tuple[int, int]:
        return Import.objects.get(pk=import_id).checkpoint, Lead.objects.count()

    assert in_org(organization, state) == (3, 3)  # the first batch only
    failing["on"] = False
    work(organization, import_id)  # rq's retry
    assert_written_once(organization, import_id)


def test_a_worker_killed_midway_leaves_a_prefix_and_its_retry_writes_every_row_once(
    organization, monkeypatch
):
    seen: list[int] = []

    def kill(run: Import) -> None:
        seen.append(run.checkpoint)
        if len(seen) == 2:
            raise SimulatedKill()

    monkeypatch.setattr(services, "after_batch", kill)
    import_id = queued(organization)
    with pytest.raises(SimulatedKill):
        work(organization, import_id)

    def written() -> tuple[int, int, list[int]]:
        checkpoint = Import.objects.get(pk=import_id).checkpoint
        created = [
            int(e.split("@")[0].removeprefix("person")) for e in Lead.objects.values_list("email", flat=True)
        ]
        return checkpoint, len(created), sorted(created)

    checkpoint, _, created = in_org(organization, written)
    assert checkpoint % 3 == 0 and checkpoint >= 6
    assert created == list(range(checkpoint))  # exactly the rows before the checkpoint
    monkeypatch.setattr(services, "after_batch", None)
    work(organization, import_id)  # rq's retry
    assert_written_once(organization, import_id)


def test_the_vocabulary_is_added_on_another_connection_while_the_indexes_build(organization, monkeypatch):
    from tenant_apps.imports.pipeline import bulk

    spans: dict[str, tuple[float, float]] = {}
    words_add, indexes_build = Pipeline.words_add, bulk.indexes_build

    def timed(name: str, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            began = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                if name == "words":
                    time.sleep(0.3)  # long enough to overlap however fast the builds are
                spans[name] = (began, time.monotonic())

        return call

    monkeypatch.setattr(Pipeline, "words_add", timed("words", words_add))
    monkeypatch.setattr(bulk, "indexes_build", timed("build", indexes_build))
    import_id = queued(organization)
    work(organization, import_id)
    (words_began, words_ended), (build_began, build_ended) = spans["words"], spans["build"]
    assert words_began < build_ended and build_began < words_ended  # at the same time
    assert_written_once(organization, import_id)
