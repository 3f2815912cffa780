"""The batch path of inbound mail (tenant_apps.mail.batch behind the drain job of
shared_apps.mailroute.pending): messages that arrive together are processed together, each ending as it
would alone. Real SMTP to the running receiver, the drain job run on the real Redis."""

from __future__ import annotations

import json

import django_rq
import pytest
from django.db import connection as default_connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.core.events import subscribe_in_transaction
from shared_apps.mailroute import pending
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.leads.models import Lead
from tenant_apps.mail import services
from tenant_apps.mail.models import InboundMessage, InboundStatus
from tenant_apps.sequences.models import EnrollmentStatus, StopReason
from tests.conftest import InThread
from tests.tenant_apps.mail.inbound import email
from tests.tenant_apps.mail.test_replies_bounces_loops import sent  # noqa: F401 (fixture)
from tests.tenant_apps.webhooks.conftest import make_endpoint  # noqa: F401 (fixture)

DRAIN = "tenant_apps.mail.jobs.inbound_messages_drain"


@pytest.fixture
def jane(make_lead):
    return make_lead(name="Jane Doe", email="jane@customer.test")


def emails_of(organization, **anchor):
    with schema_context(organization.schema_name):
        return list(Activity.objects.filter(type=ActivityType.EMAIL, **anchor).order_by("pk"))


def statuses(organization):
    with schema_context(organization.schema_name):
        return dict(InboundMessage.objects.values_list("message_id", "status"))


def burst(receiver, dropbox, count, run="burst"):
    """`count` messages from Jane, each answering the one before (as the bench sends them)."""
    previous = ""
    for index in range(count):
        message_id = f"<{run}-{index}@customer.test>"
        receiver.send(
            email(
                to=dropbox,
                subject=f"Re: quote {index}",
                message_id=message_id,
                in_reply_to=previous,
                references=previous,
            ),
            [dropbox],
        )
        previous = message_id


def test_a_burst_is_one_job_one_batch_and_replies_thread_on_messages_of_the_same_batch(
    org, receiver, run_jobs, jane
):
    dropbox = receiver.dropboxes["acme"]
    burst(receiver, dropbox, 5)
    [job] = run_jobs()
    assert job.func_name == DRAIN
    assert job.return_value() == {"recorded": 5}
    recorded = emails_of(org, lead=jane)
    assert [activity.message_id for activity in recorded] == [f"<burst-{i}@customer.test>" for i in range(5)]
    assert {activity.thread_id for activity in recorded} == {"<burst-0@customer.test>"}
    assert all(activity.metadata["direction"] == "inbound" for activity in recorded)
    with schema_context(org.schema_name):
        jane.refresh_from_db()
        assert jane.last_contacted_at == max(activity.occurred_at for activity in recorded)
        messages = InboundMessage.objects.order_by("pk")
        assert [message.outcome["activities"] for message in messages] == [[a.pk] for a in recorded]
        assert all(message.processed_at is not None for message in messages)


def test_a_batch_costs_the_same_queries_whatever_its_size(org, receiver, run_jobs, jane):
    dropbox = receiver.dropboxes["acme"]
    counts = []
    for run, size in (("small", 3), ("large", 12)):
        burst(receiver, dropbox, size, run=run)
        with CaptureQueriesContext(default_connection) as queries:
            [job] = run_jobs()
        assert job.return_value() == {"recorded": size}
        counts.append(len(queries.captured_queries))
    assert counts[1] == counts[0], counts
    assert len(emails_of(org, lead=jane)) == 15


def test_duplicates_in_a_batch_and_of_earlier_messages_are_recorded_once(org, receiver, run_jobs, jane):
    dropbox = receiver.dropboxes["acme"]
    receiver.send(email(to=dropbox, message_id="<early@customer.test>"), [dropbox])
    run_jobs()
    for message_id in ("<early@customer.test>", "<new@customer.test>", "<new@customer.test>"):
        receiver.send(email(to=dropbox, message_id=message_id), [dropbox])
    [job] = run_jobs()
    # the repeats answer with the status of the message they repeat
    assert job.return_value() == {"recorded": 3}
    assert [activity.message_id for activity in emails_of(org, lead=jane)] == [
        "<early@customer.test>",
        "<new@customer.test>",
    ]
    with schema_context(org.schema_name):
        assert InboundMessage.objects.count() == 2


def test_a_reply_to_a_sequence_email_in_a_batch_stops_the_enrolment_once(
    org,
    receiver,
    run_jobs,
    sent,  # noqa: F811 (the fixture imported above)
    make_lead,
):
    enrollment, message_id = sent
    make_lead(name="Other", email="other@customer.test")
    dropbox = receiver.dropboxes["acme"]
    receiver.send(email(sender="other@customer.test", to=dropbox, message_id="<o1@customer.test>"), [dropbox])
    reply = email(to=dropbox, message_id="<r1@customer.test>", in_reply_to=message_id, references=message_id)
    receiver.send(reply, [dropbox])
    again = email(to=dropbox, message_id="<r2@customer.test>", in_reply_to="<r1@customer.test>")
    receiver.send(again, [dropbox])
    [job] = run_jobs()
    assert job.return_value() == {"recorded": 3}
    with schema_context(org.schema_name):
        enrollment.refresh_from_db()
        received = Activity.objects.get(message_id="<r1@customer.test>")
        stops = Activity.objects.filter(type=ActivityType.SYSTEM, metadata__event="sequence_stopped")
        assert stops.count() == 1
    assert enrollment.status == EnrollmentStatus.STOPPED
    assert enrollment.stop_reason == StopReason.REPLIED
    assert enrollment.stop_details == {"activity_id": received.pk, "thread_id": message_id, "threaded": True}


def test_unknown_senders_in_a_batch_make_one_lead_each_when_the_organization_says_so(
    org, receiver, run_jobs, admin, jane
):
    dropbox = receiver.dropboxes["acme"]
    with schema_context(org.schema_name):
        services.mail_settings_update(actor=admin, changes={"create_leads_from_unknown": True})
    for index in range(2):  # the same new person twice: one lead, both emails on it
        new = email(
            sender="New Person <new@prospect.test>", to=dropbox, message_id=f"<n{index}@prospect.test>"
        )
        receiver.send(new, [dropbox])
    receiver.send(email(to=dropbox, message_id="<j1@customer.test>"), [dropbox])
    # a member's own mail to the dropbox makes no lead of them
    receiver.send(email(sender=admin.email, to=dropbox, message_id="<a1@acme.test>"), [dropbox])
    [job] = run_jobs()
    assert job.return_value() == {"recorded": 3, "unmatched": 1}
    with schema_context(org.schema_name):
        [lead] = Lead.objects.filter(email="new@prospect.test")
        assert lead.name == "New Person"
        assert not Lead.objects.filter(email=admin.email).exists()
        first = InboundMessage.objects.get(message_id="<n0@prospect.test>")
        assert first.outcome["created_lead"] == lead.pk
    assert [activity.message_id for activity in emails_of(org, lead=lead)] == [
        "<n0@prospect.test>",
        "<n1@prospect.test>",
    ]
    assert [activity.message_id for activity in emails_of(org, lead=jane)] == ["<j1@customer.test>"]
    assert statuses(org)["<a1@acme.test>"] == InboundStatus.UNMATCHED


def test_unknown_senders_stay_unmatched_by_default(org, receiver, run_jobs, jane):
    dropbox = receiver.dropboxes["acme"]
    receiver.send(
        email(sender="someone@prospect.test", to=dropbox, message_id="<u1@prospect.test>"), [dropbox]
    )
    receiver.send(email(to=dropbox, message_id="<j1@customer.test>"), [dropbox])
    [job] = run_jobs()
    assert job.return_value() == {"unmatched": 1, "recorded": 1}
    with schema_context(org.schema_name):
        assert not Lead.objects.filter(email="someone@prospect.test").exists()
        assert InboundMessage.objects.get(message_id="<u1@prospect.test>").outcome == {
            "addresses": ["someone@prospect.test", receiver.dropboxes["acme"]]
        }


def test_a_burst_for_two_organizations_is_one_batch_in_each_and_nothing_crosses(
    org, other_org, receiver, run_jobs, jane, make_lead
):
    globex_jane = make_lead(name="Jane", email="jane@customer.test", organization=other_org)
    acme, globex = receiver.dropboxes["acme"], receiver.dropboxes["globex"]
    receiver.send(email(to=acme, message_id="<a1@customer.test>"), [acme])
    receiver.send(email(to=globex, message_id="<g1@customer.test>"), [globex])
    # answers globex's message, sent to acme: in acme the id names nothing
    receiver.send(email(to=acme, message_id="<a2@customer.test>", in_reply_to="<g1@customer.test>"), [acme])
    receiver.send(email(to=f"{acme}, {globex}", message_id="<both@customer.test>"), [acme, globex])
    jobs = run_jobs()
    assert sorted((job.meta["organization"], job.func_name) for job in jobs) == [
        ("acme", DRAIN),
        ("globex", DRAIN),
    ]
    assert {job.meta["organization"]: job.return_value() for job in jobs} == {
        "acme": {"recorded": 3},
        "globex": {"recorded": 2},
    }
    ours = {activity.message_id: activity for activity in emails_of(org, lead=jane)}
    theirs = {activity.message_id: activity for activity in emails_of(other_org, lead=globex_jane)}
    assert sorted(ours) == ["<a1@customer.test>", "<a2@customer.test>", "<both@customer.test>"]
    assert sorted(theirs) == ["<both@customer.test>", "<g1@customer.test>"]
    assert ours["<a2@customer.test>"].thread_id == "<g1@customer.test>"  # its own thread, named by its parent
    with schema_context(org.schema_name):
        assert not Activity.objects.filter(message_id="<g1@customer.test>").exists()
        assert InboundMessage.objects.get(message_id="<both@customer.test>").recipients == [acme]
    with schema_context(other_org.schema_name):
        assert InboundMessage.objects.get(message_id="<both@customer.test>").recipients == [globex]


def test_a_failing_batch_is_processed_one_by_one_and_the_failure_kept_for_the_retry(
    org, receiver, run_jobs, jane, make_lead
):
    bad = make_lead(name="Bad", email="bad@customer.test")

    def refuse(event):
        if event.record_id == bad.pk:
            raise RuntimeError("a subscriber fails on this lead")

    undo = subscribe_in_transaction("lead.email_recorded", refuse)
    dropbox = receiver.dropboxes["acme"]
    try:
        receiver.send(email(to=dropbox, message_id="<j1@customer.test>"), [dropbox])
        receiver.send(
            email(sender="bad@customer.test", to=dropbox, message_id="<b1@customer.test>"), [dropbox]
        )
        [job] = run_jobs()
    finally:
        undo()
    assert job.get_status() in ("failed", "scheduled")  # to be retried
    # the good message is recorded on its own; the bad one left no trace and waits for the retry
    assert [activity.message_id for activity in emails_of(org, lead=jane)] == ["<j1@customer.test>"]
    assert emails_of(org, lead=bad) == []
    assert statuses(org) == {"<j1@customer.test>": InboundStatus.RECORDED}
    assert len(pending.taken(org.schema_name, job.id)) == 2
    # the retry (the same job) takes its batch again: the recorded one is recognized, the other recorded
    django_rq.get_queue("default").enqueue_job(job)
    [retried] = run_jobs()
    assert retried.id == job.id
    assert retried.return_value() == {"recorded": 2}
    assert [activity.message_id for activity in emails_of(org, lead=bad)] == ["<b1@customer.test>"]
    assert len(emails_of(org, lead=jane)) == 1
    assert pending.taken(org.schema_name, job.id) == []


def test_messages_left_waiting_without_a_job_are_taken_up_by_the_minute_sweep(org, receiver, run_jobs, jane):
    """The receiver died between putting a message on the pending list and queuing the drain job."""
    from email import policy

    from shared_apps.mailroute.addresses import resolve
    from shared_apps.mailroute.receiver import store
    from tenant_apps.mail.jobs import inbound_messages_sweep

    dropbox = receiver.dropboxes["acme"]
    raw = email(to=dropbox, message_id="<left@customer.test>").as_bytes(policy=policy.SMTP)
    [stored] = store(content=raw, routes=[(dropbox, resolve(dropbox))], mail_from="jane@customer.test")
    pending._redis().rpush(pending._pending_key(org.schema_name), json.dumps(stored.as_job_data()))
    assert run_jobs() == []

    def sweep():  # as the worker runs it: in the organization, outside the test's transaction
        with schema_context(org.schema_name):
            return inbound_messages_sweep()

    assert InThread(sweep).join() is True
    assert InThread(sweep).join() is False  # queued once
    [job] = run_jobs()
    assert job.return_value() == {"recorded": 1}
    assert [activity.message_id for activity in emails_of(org, lead=jane)] == ["<left@customer.test>"]
    assert InThread(sweep).join() is False  # nothing waits


def test_a_batch_announces_each_email_to_webhooks_and_the_live_stream(
    org,
    receiver,
    run_jobs,
    jane,
    make_endpoint,  # noqa: F811 (the fixture imported above)
):
    from tenant_apps.realtime.models import EventLog
    from tenant_apps.webhooks.models import OutboxEvent

    make_endpoint("http://127.0.0.1:9/hooks", ["activity.created"])
    with schema_context(org.schema_name):
        streamed_before = EventLog.objects.filter(topic="lead.email_recorded").count()
    burst(receiver, receiver.dropboxes["acme"], 3)
    run_jobs()
    recorded = emails_of(org, lead=jane)
    with schema_context(org.schema_name):
        outbox = sorted(OutboxEvent.objects.all(), key=lambda row: row.payload["data"]["activity_id"])
        streamed = EventLog.objects.filter(topic="lead.email_recorded").order_by("id")[streamed_before:]
        assert [row.payload["data"]["activity_id"] for row in outbox] == [a.pk for a in recorded]
        assert {row.payload["type"] for row in outbox} == {"activity.created"}
        assert all(row.payload["record"] == {"type": "lead", "id": jane.pk} for row in outbox)
        assert [row.data["activity_id"] for row in streamed] == [a.pk for a in recorded]
        assert {row.owner_id for row in streamed} == {jane.owner_id}


def test_a_drain_job_that_ran_its_time_hands_the_rest_to_a_new_job(
    org, receiver, run_jobs, jane, monkeypatch
):
    from tenant_apps.mail import jobs

    monkeypatch.setattr(pending, "DRAIN_BATCH", 2)
    monkeypatch.setattr(jobs, "DRAIN_SECONDS", 0)  # its time is up after its first batch
    burst(receiver, receiver.dropboxes["acme"], 5)
    [job] = run_jobs()
    assert job.return_value() == {"recorded": 2}
    assert pending.waiting(org.schema_name) == 3
    # a new drain job is asked for (inside the test's transaction, rq would queue it at commit)
    assert pending._redis().exists(pending._queued_key(org.schema_name))
    assert len(emails_of(org, lead=jane)) == 2
