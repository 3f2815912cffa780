"""The event log: written with the change it records, numbered at commit, replayed, pruned."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.core import events
from shared_apps.users.models import Role
from tenant_apps.leads import services
from tenant_apps.leads.models import Stage
from tenant_apps.realtime import jobs, selectors
from tenant_apps.realtime.listener import connect_params
from tenant_apps.realtime.models import CHANNEL, PRUNED_TOPIC, EventLog
from tenant_apps.realtime.services import event_log_prune
from tests.tenant_apps.realtime.conftest import committed


def logged(**filters):
    return list(
        EventLog.objects.filter(**filters).order_by("id").values("topic", "record_id", "owner_id", "data")
    )


def test_lead_changes_are_logged_in_their_transaction_with_owner_and_from_to(
    make_lead, in_org, admin, member
):
    rep = member(role=Role.REP)
    lead = make_lead(owner_id=rep.pk)
    services.lead_transition(lead_id=lead.pk, to_stage=Stage.CONTACTED, actor=admin)
    services.lead_update(lead_id=lead.pk, actor=admin, changes={"owner_id": admin.pk})
    assert logged(record_id=lead.pk) == [
        {"topic": "lead.created", "record_id": lead.pk, "owner_id": rep.pk, "data": {"stage": "NEW"}},
        {
            "topic": "lead.stage_changed",
            "record_id": lead.pk,
            "owner_id": rep.pk,
            "data": {"from": "NEW", "to": "CONTACTED"},
        },
        {
            "topic": "lead.owner_changed",
            "record_id": lead.pk,
            "owner_id": admin.pk,
            "data": {"from": rep.pk, "to": admin.pk},
        },
    ]


def test_a_rolled_back_change_logs_nothing(make_lead, in_org, admin):
    lead = make_lead()
    before = EventLog.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.lead_transition(lead_id=lead.pk, to_stage=Stage.LOST, actor=admin)
        assert EventLog.objects.count() == before + 1
        raise RuntimeError("roll back")
    assert EventLog.objects.count() == before


def test_a_purged_lead_keeps_the_owner_of_its_last_event(make_lead, in_org, admin):
    lead = make_lead(owner_id=admin.pk)
    services.lead_delete(lead_id=lead.pk, actor=admin)
    services.lead_purge(lead_id=lead.pk, actor=admin)
    assert logged(topic="lead.purged", record_id=lead.pk) == [
        {"topic": "lead.purged", "record_id": lead.pk, "owner_id": admin.pk, "data": {}}
    ]


def test_only_lead_import_and_notification_topics_are_logged(in_org):
    before = EventLog.objects.count()
    events.publish_on_commit("account.created", record_id=1, status="active")
    events.publish_on_commit("importer.thing", record_id=2)
    events.publish_on_commit("import.progress", record_id=3, actor_id=5, done=10, total=40)
    events.publish_on_commit("notification.created", record_id=4, recipient_id=5)
    assert list(EventLog.objects.order_by("id").values_list("topic", "actor_id", "data"))[before:] == [
        ("import.progress", 5, {"done": 10, "total": 40}),
        ("notification.created", None, {"recipient_id": 5}),
    ]
    connection.set_schema_to_public()
    events.publish_on_commit("lead.created", record_id=1)  # the platform has no log: ignored


def test_each_organization_logs_in_its_own_schema(make_lead, org, other_org):
    def created() -> dict[str, list[int]]:
        found = {}
        for organization in (org, other_org):
            with schema_context(organization.schema_name):
                found[organization.slug] = [row["record_id"] for row in logged(topic="lead.created")]
        return found

    before = created()
    mine = make_lead()
    theirs = make_lead(organization=other_org)  # ids coincide across schemas; the logs do not mix
    after = created()
    assert after["acme"] == [*before["acme"], mine.pk]
    assert after["globex"] == [*before["globex"], theirs.pk]


@pytest.mark.django_db(transaction=False)
def test_ids_follow_commit_order_and_notify_announces_them_on_commit(org, django_db_blocker):
    """The first transaction to insert commits last: it still gets the larger id, and NOTIFY tells the
    listeners in that order. A rolled-back insert announces nothing."""
    first_inserted, second_committed = threading.Event(), threading.Event()

    def write(
        topic: str, wait: threading.Event | None, signal: threading.Event | None, roll_back=False
    ) -> None:
        with schema_context(org.schema_name), transaction.atomic():
            EventLog.objects.create(topic=topic, record_id=0)
            if signal:
                signal.set()
            if wait:
                assert wait.wait(10)
            transaction.set_rollback(roll_back)

    with django_db_blocker.unblock():
        listener = psycopg.connect(**connect_params(), autocommit=True)
        try:
            listener.execute(f"LISTEN {CHANNEL}")
            slow = threading.Thread(
                target=committed, args=(write, "test.slow", second_committed, first_inserted)
            )
            slow.start()
            assert first_inserted.wait(10)
            committed(write, "test.rolled_back", None, None, roll_back=True)
            committed(write, "test.fast", None, None)
            second_committed.set()
            slow.join()
            notified = [n.payload for n in listener.notifies(timeout=2, stop_after=2)]

            def rows():
                with schema_context(org.schema_name):
                    return dict(EventLog.objects.filter(topic__startswith="test.").values_list("topic", "id"))

            ids = committed(rows)
            assert ids.keys() == {"test.fast", "test.slow"}
            assert ids["test.fast"] < ids["test.slow"]
            assert notified == [
                f"{org.schema_name}:{ids['test.fast']}",
                f"{org.schema_name}:{ids['test.slow']}",
            ]
        finally:
            listener.close()

            def clean():
                with schema_context(org.schema_name):
                    EventLog.objects.filter(topic__startswith="test.").delete()

            committed(clean)


def add(topic: str = "lead.updated", *, days_ago: float = 0, record_id: int = 1) -> EventLog:
    """A row as the commit trigger leaves it (the trigger fires at the end of the test's transaction only)."""
    row = EventLog.objects.create(topic=topic, record_id=record_id, data={})
    row.created_at = timezone.now() - timedelta(days=days_ago)
    EventLog.objects.filter(pk=row.pk).update(created_at=row.created_at)
    return row


def test_replay_returns_what_came_after_the_id_then_the_position(in_org):
    rows = [add(record_id=n) for n in range(4)]
    replay = selectors.events_after(after_id=rows[0].id, limit=10)
    assert [event.record_id for event in replay.events] == [1, 2, 3]
    assert replay.position == rows[-1].id and replay.reset == ""
    assert selectors.events_after(after_id=rows[-1].id, limit=10) == selectors.Replay([], rows[-1].id)
    live_only = selectors.events_after(after_id=None, limit=10)
    assert live_only.events == [] and live_only.position == rows[-1].id


def test_replay_too_far_behind_or_ahead_of_the_log_asks_for_a_reset(in_org):
    rows = [add(record_id=n) for n in range(5)]
    behind = selectors.events_after(after_id=rows[0].id, limit=3)
    assert behind.reset == "too_far_behind" and behind.events == [] and behind.position == rows[-1].id
    ahead = selectors.events_after(after_id=rows[-1].id + 1000, limit=3)
    assert ahead.reset == "unknown_position" and ahead.position == rows[-1].id


def test_pruning_removes_old_events_and_marks_the_gap(in_org):
    # what other tests committed is recent but numbered before these rows: start from an empty log (ids and
    # commit times go together in real life: the trigger sets both at commit)
    EventLog.objects.all().delete()
    old = [add(days_ago=10, record_id=n) for n in range(3)]
    recent = add(days_ago=1, record_id=9)
    assert event_log_prune(days=7) == 3
    remaining = list(EventLog.objects.filter(id__gte=old[0].id).order_by("id").values_list("id", "topic"))
    assert remaining == [(old[-1].id, PRUNED_TOPIC), (recent.id, "lead.updated")]
    assert event_log_prune(days=7) == 0  # idempotent

    # a client that stood before the marker missed removed events: reset; after it, a normal replay
    assert selectors.events_after(after_id=old[0].id, limit=10).reset == "pruned"
    after_marker = selectors.events_after(after_id=old[-1].id, limit=10)
    assert [event.id for event in after_marker.events] == [recent.id] and after_marker.reset == ""

    newer_old = add(days_ago=8, record_id=10)  # a later prune moves the marker
    EventLog.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(days=8))
    assert jobs.prune_event_log() == 2  # the job: REALTIME_RETENTION_DAYS, 7 by default
    assert list(EventLog.objects.filter(id__gte=old[0].id).values_list("id", "topic")) == [
        (newer_old.id, PRUNED_TOPIC)
    ]


def test_the_retention_job_is_scheduled_for_every_organization():
    from django.conf import settings
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=None)  # type: ignore[arg-type]
    scheduler.load_config_from_file(str(settings.BASE_DIR / "config" / "cron.py"))
    fanned = [job for job in scheduler.get_jobs() if job.func_name.endswith("fan_out")]
    assert "prune_event_log" in {job.args[0].__name__ for job in fanned}
