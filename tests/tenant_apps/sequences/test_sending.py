"""Sequences sending through a real SMTP server (aiosmtpd), with time controlled by `now=`."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.organizations.jobs import enqueue_in_organization
from shared_apps.users.models import Role, User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.services import email_record
from tenant_apps.leads.models import Stage
from tenant_apps.leads.services import lead_transition
from tenant_apps.sequences import sending, services
from tenant_apps.sequences.jobs import send_due_sequence_steps
from tenant_apps.sequences.models import SentStep, SentStepStatus
from tests.conftest import client_for


@pytest.fixture
def owner(org, member):
    rep = member(role=Role.REP, email="sam@acme.test")
    with schema_context(org.schema_name):
        User.objects.filter(pk=rep.pk).update(full_name="Sam Seller")
        rep.refresh_from_db()
    return rep


@pytest.fixture
def jane(make_lead, owner):
    return make_lead(name="Jane Doe", email="jane@customer.test", company="Initech", owner_id=owner.pk)


@pytest.fixture
def enrolled(org, admin, jane, make_sequence):
    """Jane enrolled in the two-step sequence at t0 (the returned enrollment's enrolled_at)."""
    sequence = make_sequence()
    with schema_context(org.schema_name):
        return services.sequence_enroll(sequence_id=sequence.pk, lead_id=jane.pk, actor=admin)


def send_due(organization, now):
    with schema_context(organization.schema_name):
        return send_due_sequence_steps(now=now)


def reply(
    org, lead, *, in_reply_to="", message_id="<reply-1@customer.test>", sender="jane@customer.test", date=None
):
    with schema_context(org.schema_name):
        return email_record(
            lead_id=lead.pk,
            actor=None,
            fields={
                "from": f"Jane Doe <{sender}>",
                "to": "no-reply@leadpulse.example",
                "subject": "Re: Hello Jane",
                "body": "Sounds good, call me.",
                "message_id": message_id,
                "in_reply_to": in_reply_to,
                "date": date or timezone.now(),
            },
        ).activity


def state(org, enrollment):
    with schema_context(org.schema_name):
        enrollment.refresh_from_db()
    return enrollment


def test_step_one_goes_out_then_step_two_after_its_delay(org, smtp, enrolled, owner, admin):
    t0 = enrolled.enrolled_at
    assert send_due(org, t0) == {"sent": 1}

    [first] = smtp.messages
    assert first.recipients == ["jane@customer.test"]
    assert first["Subject"] == "Hello Jane"
    # the step's body, then the unsubscribe link (tests/tenant_apps/mail/test_unsubscribe.py)
    assert first.body.startswith("Hi Jane Doe at Initech.\n-- Sam Seller\n\n--\nTo stop receiving these")
    # From the admin who enrolled her; Reply-To brings the answer back to her (test_sequence_outbound.py)
    assert first["From"] == admin.email
    assert first["Reply-To"].startswith("reply+")
    with schema_context(org.schema_name):
        sent = SentStep.objects.get(enrollment=enrolled, position=1)
        email = Activity.objects.get(lead_id=enrolled.lead_id, type=ActivityType.EMAIL)
    assert sent.status == SentStepStatus.SENT and sent.activity_id == email.pk
    assert first["Message-ID"] == sent.message_id == email.message_id
    assert email.metadata["direction"] == "outbound" and email.subject == "Hello Jane"

    # step 2 waits 2 days 3 hours after step 1
    assert send_due(org, t0 + timedelta(days=2, hours=2)) == {}
    assert len(smtp.messages) == 1
    assert send_due(org, t0 + timedelta(days=2, hours=3)) == {"sent": 1}
    assert [message["Subject"] for message in smtp.messages] == ["Hello Jane", "Following up, Jane"]
    assert smtp.messages[0]["Message-ID"] != smtp.messages[1]["Message-ID"]

    enrollment = state(org, enrolled)
    assert enrollment.status == "completed" and enrollment.next_send_at is None
    assert send_due(org, t0 + timedelta(days=60)) == {}
    assert len(smtp.messages) == 2


def test_a_reply_threaded_to_a_sent_step_stops_the_enrollment(
    org, smtp, enrolled, jane, django_capture_on_commit_callbacks
):
    t0 = enrolled.enrolled_at
    send_due(org, t0)
    [first] = smtp.messages
    # dated before the enrollment on purpose: only the In-Reply-To header ties it to the sequence
    with django_capture_on_commit_callbacks(execute=True):
        answer = reply(org, jane, in_reply_to=first["Message-ID"], date=t0 - timedelta(days=1))
    assert answer.thread_id == first["Message-ID"]

    enrollment = state(org, enrolled)
    assert (enrollment.status, enrollment.stop_reason) == ("stopped", "replied")
    assert enrollment.stop_details == {
        "activity_id": answer.pk,
        "thread_id": first["Message-ID"],
        "threaded": True,
    }
    assert send_due(org, t0 + timedelta(days=10)) == {}
    assert len(smtp.messages) == 1
    with schema_context(org.schema_name):
        stopped = Activity.objects.get(lead=jane, metadata__event="sequence_stopped")
    assert stopped.metadata["reason"] == "replied"


def test_a_reply_whose_event_was_missed_is_still_seen_before_the_next_send(org, smtp, enrolled, jane):
    t0 = enrolled.enrolled_at
    send_due(org, t0)
    reply(org, jane, in_reply_to=smtp.messages[0]["Message-ID"])  # no on_commit: subscribers never ran
    assert state(org, enrolled).status == "active"

    assert send_due(org, t0 + timedelta(days=3)) == {"stopped": 1}
    assert state(org, enrolled).stop_reason == "replied"
    assert len(smtp.messages) == 1


def test_outbound_or_earlier_emails_do_not_stop_it(
    org, smtp, enrolled, jane, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        # the rep writing to Jane, and an old unthreaded email from Jane imported late
        reply(org, jane, sender="sam@acme.test", message_id="<rep-1@acme.test>")
        reply(org, jane, message_id="<old@customer.test>", date=enrolled.enrolled_at - timedelta(days=5))
    assert state(org, enrolled).status == "active"
    assert send_due(org, enrolled.enrolled_at) == {"sent": 1}


def test_any_new_inbound_email_from_the_lead_stops_it(
    org, smtp, enrolled, jane, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reply(org, jane, message_id="<fresh@customer.test>")  # a new thread, not a reply to our email
    enrollment = state(org, enrolled)
    assert enrollment.stop_reason == "replied" and enrollment.stop_details["threaded"] is False
    assert send_due(org, enrolled.enrolled_at + timedelta(days=1)) == {}
    assert smtp.messages == []


@pytest.mark.parametrize("stage", [Stage.WON, Stage.LOST])
def test_winning_or_losing_the_lead_stops_it(
    org, smtp, admin, make_lead, make_sequence, stage, django_capture_on_commit_callbacks
):
    lead = make_lead(email="deal@customer.test", stage=Stage.NEGOTIATION)
    sequence = make_sequence()
    with schema_context(org.schema_name):
        enrollment = services.sequence_enroll(sequence_id=sequence.pk, lead_id=lead.pk, actor=admin)
    send_due(org, enrollment.enrolled_at)
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        lead_transition(lead_id=lead.pk, to_stage=stage, actor=admin)

    enrollment = state(org, enrollment)
    assert (enrollment.status, enrollment.stop_reason) == ("stopped", stage.lower())
    assert send_due(org, enrollment.enrolled_at + timedelta(days=10)) == {}
    assert len(smtp.messages) == 1


def test_a_missed_stage_change_is_still_seen_before_the_next_send(org, smtp, admin, make_lead, make_sequence):
    lead = make_lead(email="deal@customer.test", stage=Stage.NEGOTIATION)
    sequence = make_sequence()
    with schema_context(org.schema_name):
        enrollment = services.sequence_enroll(sequence_id=sequence.pk, lead_id=lead.pk, actor=admin)
        lead_transition(lead_id=lead.pk, to_stage=Stage.WON, actor=admin)
    assert send_due(org, enrollment.enrolled_at) == {"stopped": 1}
    assert state(org, enrollment).stop_reason == "won"
    assert smtp.messages == []


def test_unenrolling_stops_it_even_with_a_send_job_already_queued(
    org, smtp, enrolled, run_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_in_organization(org.schema_name, send_due_sequence_steps)
    with schema_context(org.schema_name):
        enrolled_by = User.objects.get(pk=enrolled.enrolled_by_id)
    client = client_for(org, enrolled_by)
    response = client.post(f"/api/enrollments/{enrolled.pk}/unenroll/")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["stop_reason"]) == ("stopped", "unenrolled")

    connection.set_schema_to_public()
    [job] = run_jobs()
    assert job.is_finished, job.latest_result().exc_string
    assert job.return_value() == {}
    assert smtp.messages == []
    assert client.post(f"/api/enrollments/{enrolled.pk}/unenroll/").status_code == 409
    assert client.post("/api/enrollments/999999/unenroll/").status_code == 404


def test_a_stop_between_reserving_and_sending_sends_nothing(org, smtp, admin, enrolled):
    with schema_context(org.schema_name):
        outcome, reservation = sending._reserve(enrollment_id=enrolled.pk, now=enrolled.enrolled_at)
        assert outcome == "reserved"
        services.sequence_unenroll(enrollment_id=enrolled.pk, actor=admin)
        assert sending._deliver(reservation_id=reservation.pk, now=enrolled.enrolled_at) == "stopped"
        assert not SentStep.objects.filter(enrollment=enrolled).exists()
    assert smtp.messages == []


def test_a_retried_job_after_the_sent_step_row_exists_sends_nothing(org, smtp, enrolled):
    t0 = enrolled.enrolled_at
    # the worker dies after the mail server took the email, before the send was recorded
    with (
        mock.patch.object(sending, "email_record", side_effect=RuntimeError("work horse killed")),
        schema_context(org.schema_name),
        pytest.raises(RuntimeError),
    ):
        sending.enrollment_step_send(enrollment_id=enrolled.pk, now=t0)
    assert len(smtp.messages) == 1
    with schema_context(org.schema_name):
        reservation = SentStep.objects.get(enrollment=enrolled)
    assert reservation.status == SentStepStatus.PENDING
    assert reservation.message_id == smtp.messages[0]["Message-ID"]

    # rq retries (or the next minute's run comes): the reservation is found, nothing is sent again
    assert send_due(org, t0) == {"in_flight": 1}
    assert send_due(org, t0 + timedelta(minutes=5)) == {"in_flight": 1}
    # long after any live send would have finished: unknown delivery, stopped for a human to look at
    assert send_due(org, t0 + timedelta(minutes=16)) == {"delivery_unknown": 1}
    enrollment = state(org, enrolled)
    assert (enrollment.status, enrollment.stop_reason) == ("stopped", "delivery_unknown")
    with schema_context(org.schema_name):
        reservation.refresh_from_db()
    assert reservation.status == SentStepStatus.UNKNOWN
    assert send_due(org, t0 + timedelta(days=5)) == {}
    assert len(smtp.messages) == 1


def test_a_mail_server_that_defers_gets_the_step_on_a_later_run_once(org, smtp, enrolled):
    smtp.data_reply = "451 4.3.0 Try again later"
    assert send_due(org, enrolled.enrolled_at) == {"error": 1}
    with schema_context(org.schema_name):
        assert not SentStep.objects.filter(enrollment=enrolled).exists()  # released: nothing went out
    assert state(org, enrolled).status == "active"

    smtp.data_reply = ""
    assert send_due(org, enrolled.enrolled_at + timedelta(minutes=1)) == {"sent": 1}
    assert send_due(org, enrolled.enrolled_at + timedelta(minutes=2)) == {}
    assert len(smtp.messages) == 1


def test_a_refused_recipient_stops_the_enrollment(org, smtp, enrolled):
    smtp.refuse.add("jane@customer.test")
    assert send_due(org, enrolled.enrolled_at) == {"delivery_failed": 1}
    enrollment = state(org, enrolled)
    assert (enrollment.status, enrollment.stop_reason) == ("stopped", "delivery_failed")
    assert "No such user" in enrollment.stop_details["error"]


def test_the_job_runs_in_its_organization_only(
    org, other_org, smtp, enrolled, make_lead, make_sequence, run_jobs, django_capture_on_commit_callbacks
):
    theirs = make_lead(organization=other_org, name="Globex Lead", email="lead@globex-customer.test")
    sequence = make_sequence(organization=other_org, steps=[{"subject": "From Globex", "body": "Hi"}])
    with schema_context(other_org.schema_name):
        their_enrollment = services.sequence_enroll(sequence_id=sequence.pk, lead_id=theirs.pk, actor=None)

    with django_capture_on_commit_callbacks(execute=True):
        enqueue_in_organization(org.schema_name, send_due_sequence_steps)
    connection.set_schema_to_public()
    [job] = run_jobs()
    assert job.is_finished, job.latest_result().exc_string
    assert job.return_value() == {"sent": 1}
    assert [message["Subject"] for message in smtp.messages] == ["Hello Jane"]
    assert state(other_org, their_enrollment).next_position == 1

    assert send_due(other_org, timezone.now()) == {"sent": 1}
    assert [message["Subject"] for message in smtp.messages] == ["Hello Jane", "From Globex"]
    assert smtp.messages[1].recipients == ["lead@globex-customer.test"]


def test_deleted_lead_or_sequence_stops_the_enrollment(
    org, smtp, admin, enrolled, jane, make_lead, make_sequence
):
    from tenant_apps.leads.services import lead_delete

    with schema_context(org.schema_name):
        lead_delete(lead_id=jane.pk, actor=admin)
    assert send_due(org, enrolled.enrolled_at) == {"stopped": 1}
    assert state(org, enrolled).stop_details == {"cause": "deleted"}

    lead = make_lead(email="other@customer.test")
    sequence = make_sequence()
    with schema_context(org.schema_name):
        enrollment = services.sequence_enroll(sequence_id=sequence.pk, lead_id=lead.pk, actor=admin)
        services.sequence_delete(sequence_id=sequence.pk, actor=admin)
    assert state(org, enrollment).stop_reason == "sequence_deleted"
    assert smtp.messages == []


def test_editing_the_steps_reschedules_and_completes_running_enrollments(
    org, smtp, admin, enrolled, make_sequence
):
    t0 = enrolled.enrolled_at
    send_due(org, t0)
    steps = [
        {"subject": "Hello {{ lead.first_name }}", "body": "Hi"},
        {"subject": "Following up", "body": "Any news?", "delay_days": 5},
    ]
    with schema_context(org.schema_name):
        services.sequence_update(sequence_id=enrolled.sequence_id, actor=admin, changes={"steps": steps})
    enrollment = state(org, enrolled)
    assert enrollment.next_send_at == enrollment.last_sent_at + timedelta(days=5)

    with schema_context(org.schema_name):
        services.sequence_update(sequence_id=enrolled.sequence_id, actor=admin, changes={"steps": steps[:1]})
    assert state(org, enrolled).status == "completed"
    assert send_due(org, t0 + timedelta(days=30)) == {}
    assert len(smtp.messages) == 1


def test_templates_render_only_the_allowed_values(org, smtp, admin, make_lead, make_sequence):
    lead = make_lead(name="Ana", email="ana@customer.test")  # no company, no owner
    sequence = make_sequence(
        steps=[
            {
                "subject": "Hi {{ lead.first_name|upper }}\n{{ lead.last_name }}",
                "body": "{% if lead.company %}at {{ lead.company }}{% else %}no company{% endif %} <&> "
                "{{ owner.full_name|default:'the team' }} at {{ organization.name }}",
            }
        ]
    )
    with schema_context(org.schema_name):
        enrollment = services.sequence_enroll(sequence_id=sequence.pk, lead_id=lead.pk, actor=admin)
    send_due(org, enrollment.enrolled_at)
    [message] = smtp.messages
    assert message["Subject"] == "Hi ANA"
    assert message.body.startswith(f"no company <&> the team at {org.name}\n\n--\n")


def test_deleting_or_merging_the_lead_stops_it_at_once(
    org, smtp, admin, enrolled, jane, make_lead, make_sequence, django_capture_on_commit_callbacks
):
    from tenant_apps.dedupe.services import lead_merge
    from tenant_apps.leads.services import lead_delete

    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        lead_delete(lead_id=jane.pk, actor=admin)
    assert state(org, enrolled).stop_details == {"cause": "deleted"}

    survivor, merged = make_lead(email="keep@customer.test"), make_lead(email="dupe@customer.test")
    with schema_context(org.schema_name):
        enrollment = services.sequence_enroll(
            sequence_id=enrolled.sequence_id, lead_id=merged.pk, actor=admin
        )
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        lead_merge(survivor_id=survivor.pk, merged_ids=[merged.pk], field_winners={}, actor=admin)
    enrollment = state(org, enrollment)
    assert (enrollment.stop_reason, enrollment.stop_details) == ("lead_unavailable", {"cause": "merged"})
    assert send_due(org, enrolled.enrolled_at + timedelta(days=10)) == {}
    assert smtp.messages == []


def test_purging_a_lead_removes_its_enrollments_and_what_was_sent(org, smtp, admin, enrolled, jane):
    from tenant_apps.leads.services import lead_delete, lead_purge

    send_due(org, enrolled.enrolled_at)
    with schema_context(org.schema_name):
        lead_delete(lead_id=jane.pk, actor=admin)
        lead_purge(lead_id=jane.pk, actor=admin)
        assert not SentStep.objects.filter(enrollment_id=enrolled.pk).exists()
        assert not type(enrolled).objects.filter(pk=enrolled.pk).exists()
