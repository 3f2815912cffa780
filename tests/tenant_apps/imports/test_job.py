"""The import job: at-least-once delivery, a killed worker resuming from the checkpoint, cancel, revert,
progress, and organizations kept apart."""

from typing import Any

import pytest
from django.db import connection, connections
from django_tenants.utils import schema_context

from shared_apps.core.events import subscribe
from shared_apps.organizations.jobs import SCHEMA_META_KEY
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.imports import services
from tenant_apps.imports.models import Import, ImportChunk, ImportRowError
from tenant_apps.leads.models import Lead
from tenant_apps.records import normalize
from tests.tenant_apps.imports.conftest import (
    SimulatedKill,
    assert_counts_add_up,
    leads,
    revert,
    run,
    upload,
)

# 12 rows: 9 good, 2 invalid, 1 duplicate of an earlier row
FILE = "name,email,stage\n" + "".join(
    f"Lead {i},{'broken' if i in (4, 9) else f'lead{i % 11}@example.com'},{'WON' if i % 2 else 'NEW'}\n"
    for i in range(12)
)
GOOD = {f"lead{i}@example.com" for i in range(11) if i not in (4, 9)}


@pytest.fixture
def small_batches(monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "BATCH_ROWS", 3)
    monkeypatch.setattr(services, "REVERT_BATCH", 2)


def kill_after(monkeypatch: Any, batches: int) -> None:
    done: list[int] = []

    def hook(run: Import) -> None:
        done.append(run.checkpoint)
        if len(done) == batches:
            raise SimulatedKill()

    monkeypatch.setattr(services, "after_batch", hook)


def queued(client, content=FILE, **options) -> int:
    response = upload(client, content, **options)
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_a_worker_killed_mid_import_resumes_at_its_checkpoint(client, org, small_batches, monkeypatch):
    import_id = queued(client)
    kill_after(monkeypatch, 2)
    with pytest.raises(SimulatedKill):
        run(org, import_id)
    with schema_context(org.schema_name):
        half = Import.objects.get(pk=import_id)
        assert (half.status, half.checkpoint, half.attempts) == ("running", 6, 1)
        assert Lead.objects.count() == half.imported == 5

    monkeypatch.setattr(services, "after_batch", None)
    done = run(org, import_id)  # rq's retry of the killed job
    assert (done.status, done.checkpoint, done.attempts) == ("done", 12, 2)
    assert {lead["email"] for lead in leads(org)} == GOOD  # every good row once: nothing lost or doubled
    assert_counts_add_up(done)
    assert (done.imported, done.skipped, done.failed) == (9, 1, 2)
    with schema_context(org.schema_name):
        assert Activity.objects.filter(type=ActivityType.CREATED).count() == 9
        assert ImportRowError.objects.filter(import_run=done).count() == 3
        assert not ImportChunk.objects.filter(import_run=done).exists()  # the file goes when it is done


def test_a_plan_lost_with_a_database_crash_is_rebuilt_without_doubling(
    client, org, small_batches, monkeypatch
):
    import_id = queued(client)
    kill_after(monkeypatch, 1)
    with pytest.raises(SimulatedKill):
        run(org, import_id)
    with schema_context(org.schema_name), connection.cursor() as cursor:
        # unlogged tables come back empty after a crash
        cursor.execute(f'TRUNCATE "imports_{import_id}_plan"')
    monkeypatch.setattr(services, "after_batch", None)
    done = run(org, import_id)
    assert done.status == "done"
    assert sorted(lead["email"] for lead in leads(org)) == sorted(GOOD)
    assert_counts_add_up(done)
    assert (done.imported, done.skipped, done.failed) == (9, 1, 2)


def test_a_second_delivery_of_a_finished_import_does_nothing(client, org):
    import_id = queued(client)
    first = run(org, import_id)
    again = run(org, import_id)
    assert (again.status, again.imported, again.attempts) == ("done", first.imported, 1)
    assert len(leads(org)) == 9


def test_a_job_that_another_worker_holds_is_left_to_it(client, org):
    import_id = queued(client)
    other = connections.create_connection("default")  # another worker's session
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                [f"{org.schema_name}:imports:import:{import_id}"],
            )
            assert cursor.fetchone()[0] is True
        assert run(org, import_id).status == "queued"  # this delivery leaves it alone
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")  # what the other session's end does
    finally:
        other.close()
    assert run(org, import_id).status == "done"


def test_the_job_runs_through_rq_in_the_organizations_schema(
    client, org, other_org, run_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        import_id = queued(client)
    connection.set_schema_to_public()
    [job] = run_jobs("low")
    assert job.meta[SCHEMA_META_KEY] == org.schema_name
    assert job.is_finished, job.latest_result().exc_string
    assert job.return_value() == "done"
    assert len(leads(org)) == 9 and leads(other_org) == []
    with schema_context(org.schema_name):
        assert Import.objects.get(pk=import_id).status == "done"


def test_progress_is_announced_after_each_batch(
    client, org, small_batches, django_capture_on_commit_callbacks
):
    events: list[Any] = []
    undo = subscribe("import.", events.append)
    try:
        import_id = queued(client)
        with django_capture_on_commit_callbacks(execute=True):
            run(org, import_id)
    finally:
        undo()
    progress = [event for event in events if event.topic == "import.progress"]
    assert [event.data["progress"] for event in progress] == [0.25, 0.5, 0.75, 1.0]
    assert progress[0].data == {
        "status": "running",
        "rows_read": 12,
        "imported": 3,
        "updated": 0,
        "skipped": 0,
        "failed": 0,
        "warnings": 0,
        "progress": 0.25,
    }
    assert (progress[0].record_id, progress[0].schema_name) == (import_id, org.schema_name)
    assert events[-1].topic == "import.done"


def test_progress_is_visible_while_it_runs(client, org, small_batches, monkeypatch):
    import_id = queued(client)
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(
        services, "after_batch", lambda run: seen.append(client.get(f"/api/imports/{import_id}/").json())
    )
    run(org, import_id)
    assert [(body["status"], body["phase"], body["progress"]) for body in seen[:2]] == [
        ("running", "writing", 0.25),
        ("running", "writing", 0.5),
    ]
    final = client.get(f"/api/imports/{import_id}/").json()
    assert (final["status"], final["progress"], final["rows_read"], final["imported"]) == ("done", 1.0, 12, 9)


def test_a_queued_import_is_cancelled_at_once(client, org):
    import_id = queued(client)
    response = client.post(f"/api/imports/{import_id}/cancel/")
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    assert run(org, import_id).status == "cancelled"
    assert leads(org) == []
    assert client.post(f"/api/imports/{import_id}/cancel/").json()["code"] == "import_finished"


def test_a_running_import_stops_cleanly_between_batches(client, org, small_batches, monkeypatch):
    import_id = queued(client)

    def cancel_once(run: Import) -> None:
        if run.checkpoint == 3:
            response = client.post(f"/api/imports/{import_id}/cancel/")
            assert (response.json()["status"], response.json()["cancel_requested"]) == ("running", True)

    monkeypatch.setattr(services, "after_batch", cancel_once)
    done = run(org, import_id)
    assert (done.status, done.checkpoint, done.imported, done.failed) == ("cancelled", 3, 3, 0)
    assert len(leads(org)) == 3  # the batch written before the cancel stays (revert removes it)
    with schema_context(org.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"imports_{import_id}_plan"])
        assert cursor.fetchone()[0] is None


def test_revert_removes_created_records_and_restores_updated_ones(
    client, org, make_lead, small_batches, member, django_capture_on_commit_callbacks
):
    jane = make_lead(name="Jane", email="jane@example.com", company="Old Co", tags=["keep"])
    bob = make_lead(name="Bob", email="bob@example.com", company="Bob Co", phone="+1 555 0100 100")
    content = (
        "name,email,company,phone,tags\n"
        "Jane,jane@example.com,New Co,,vip\n"
        "Bob,bob@example.com,Bob Inc,+1 555 0100 999,\n"
        "New 1,new1@example.com,,,\n"
        "New 2,new2@example.com,,,\n"
        "New 3,new3@example.com,,,\n"
    )
    import_id = queued(client, content, duplicate_policy="update")
    done = run(org, import_id)
    assert (done.imported, done.updated) == (3, 2)
    with schema_context(org.schema_name):
        # someone changes Bob's company after the import: the revert must not undo that
        Lead.objects.filter(pk=bob.pk).update(company="Bob Ltd")
    response = client.post(f"/api/imports/{import_id}/revert/")
    assert (response.status_code, response.json()["status"]) == (202, "reverting")
    reverted = revert(org, import_id)
    assert (reverted.status, reverted.reverted) == ("reverted", {"removed": 3, "restored": 2, "conflicts": 1})
    with schema_context(org.schema_name):
        assert set(Lead.objects.alive().values_list("email", flat=True)) == {
            "jane@example.com",
            "bob@example.com",
        }
        assert Lead.objects.filter(deleted_at__isnull=False).count() == 3  # soft-deleted: restorable
        jane_now, bob_now = Lead.objects.get(pk=jane.pk), Lead.objects.get(pk=bob.pk)
        assert (jane_now.company, jane_now.tags) == ("Old Co", ["keep"])
        assert jane_now.identity_key == normalize.identity_key("Jane", "Old Co")
        assert (bob_now.company, bob_now.phone, bob_now.phone_normalized) == (
            "Bob Ltd",
            "+1 555 0100 100",
            "+15550100100",
        )
        assert bob_now.identity_key == normalize.identity_key("Bob", "Bob Ltd")
        deleted = Activity.objects.filter(type=ActivityType.SYSTEM, metadata__event="deleted")
        assert deleted.count() == 3
        assert all(
            a.metadata["via"] == "import_revert" and a.metadata["import_id"] == import_id for a in deleted
        )
        restored = Activity.objects.get(
            lead=jane_now, type=ActivityType.SYSTEM, metadata__via="import_revert"
        )
        assert restored.metadata["changes"] == {
            "company": ["New Co", "Old Co"],
            "tags": [["keep", "vip"], ["keep"]],
        }
    assert client.post(f"/api/imports/{import_id}/revert/").json()["code"] == "import_not_revertible"
    assert revert(org, import_id).status == "reverted"  # a second delivery does nothing


def test_a_killed_revert_resumes(client, org, small_batches, monkeypatch, manager):
    import_id = queued(client)
    run(org, import_id)
    with schema_context(org.schema_name):
        services.import_revert(import_id=import_id, actor=manager)
    kill_after(monkeypatch, 1)
    with pytest.raises(SimulatedKill):
        revert(org, import_id)
    monkeypatch.setattr(services, "after_batch", None)
    done = revert(org, import_id)
    assert (done.status, done.reverted["removed"]) == ("reverted", 9)
    with schema_context(org.schema_name):
        assert not Lead.objects.alive().exists()
        assert Activity.objects.filter(metadata__event="deleted").count() == 9


@pytest.mark.parametrize("kind", ["queued", "dry_run", "failed"])
def test_only_finished_imports_that_wrote_records_can_be_reverted(client, org, kind):
    import_id = queued(client, dry_run=kind == "dry_run")
    if kind == "dry_run":
        run(org, import_id)
    if kind == "failed":
        with schema_context(org.schema_name):
            Import.objects.filter(pk=import_id).update(status="failed")
    response = client.post(f"/api/imports/{import_id}/revert/")
    assert (response.status_code, response.json()["code"]) == (409, "import_not_revertible")


def test_a_file_unreadable_past_its_first_bytes_fails_the_import_with_the_reason(client, org):
    content = ("name\n" + "".join(f"Lead number {i}\n" for i in range(5000))).encode() + b"Bad\x00Row\n"
    import_id = queued(client, content)
    done = run(org, import_id)
    assert (done.status, done.error) == (
        "failed",
        "The file holds binary data (NUL bytes): it is not a CSV text file.",
    )
    assert leads(org) == []


def test_an_import_in_one_organization_never_touches_another(client, org, other_org, make_lead, api):
    theirs = make_lead(name="Jane", email="jane@example.com", organization=other_org)
    done = run(org, queued(client, "name,email\nJane,jane@example.com\n", duplicate_policy="update"))
    assert (done.imported, done.updated, done.skipped) == (1, 0, 0)  # their Jane is no duplicate of ours
    assert [lead["id"] for lead in leads(other_org)] == [theirs.pk]
    assert leads(other_org)[0]["updated_at"] == theirs.updated_at
    # ids coincide across schemas: globex sees none of acme's imports
    globex = api("admin", organization=other_org)
    assert globex.get(f"/api/imports/{done.pk}/").status_code == 404
    assert globex.get("/api/imports/").json()["results"] == []


def test_a_cancel_while_the_worker_was_gone_is_honoured_by_the_retry(client, org, small_batches, monkeypatch):
    import_id = queued(client)
    kill_after(monkeypatch, 1)
    with pytest.raises(SimulatedKill):
        run(org, import_id)
    assert client.post(f"/api/imports/{import_id}/cancel/").json()["cancel_requested"] is True
    monkeypatch.setattr(services, "after_batch", None)
    done = run(org, import_id)
    assert (done.status, done.checkpoint, done.imported) == ("cancelled", 3, 3)
    with schema_context(org.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"imports_{import_id}_plan"])
        assert cursor.fetchone()[0] is None


def test_revert_gives_a_restored_phone_its_e164_form(client, org, make_lead):
    """Issue 16: the number put back by a revert is normalized by the same rule (phonenumbers, the region)."""
    bob = make_lead(name="Bob", email="bob@example.com", phone="(555) 010-0100")
    import_id = queued(
        client, "name,email,phone\nBob,bob@example.com,+44 20 7946 0958\n", duplicate_policy="update"
    )
    assert run(org, import_id).updated == 1
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=bob.pk).phone_normalized == "+442079460958"
    assert client.post(f"/api/imports/{import_id}/revert/").status_code == 202
    assert revert(org, import_id).status == "reverted"
    with schema_context(org.schema_name):
        bob_now = Lead.objects.get(pk=bob.pk)
        assert (bob_now.phone, bob_now.phone_normalized) == ("(555) 010-0100", "+15550100100")
