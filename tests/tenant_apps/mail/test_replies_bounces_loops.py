"""What inbound mail does to sequences: a reply stops the enrolment, a delivery status notification marks
the address bouncing and stops it, our own message come back does neither."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.contacts.services import contact_create
from tenant_apps.mail.models import BouncedAddress, InboundMessage, InboundStatus
from tenant_apps.mail.parsing import LOOP_HEADER
from tenant_apps.mail.selectors import address_bouncing
from tenant_apps.sequences import services as sequences
from tenant_apps.sequences.jobs import send_due_sequence_steps
from tenant_apps.sequences.models import EnrollmentStatus, SentStep, StopReason
from tests.tenant_apps.mail.inbound import email


@pytest.fixture
def sent(org, admin, make_lead, make_sequence, smtp):
    """Jane enrolled in a sequence whose first email went out (through the SMTP sink): (enrollment, the
    SentStep's Message-ID)."""
    jane = make_lead(name="Jane Doe", email="jane@customer.test")
    sequence = make_sequence()
    with schema_context(org.schema_name):
        enrollment = sequences.sequence_enroll(sequence_id=sequence.pk, lead_id=jane.pk, actor=admin)
        assert send_due_sequence_steps(now=enrollment.enrolled_at) == {"sent": 1}
        message_id = SentStep.objects.get(enrollment=enrollment).message_id
    assert smtp.messages[0]["Message-ID"] == message_id
    return enrollment, message_id


def state(org, enrollment):
    with schema_context(org.schema_name):
        enrollment.refresh_from_db()
    return enrollment


def dsn(dropbox, *, recipient="jane@customer.test", action="failed", status="5.1.1", returned="<x@y>"):
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\n"
        f"To: {dropbox}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.customer.test>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: no-reply@leadpulse.example\r\nTo: {recipient}\r\nSubject: Hello Jane\r\n"
        f"Message-ID: {returned}\r\n\r\n"
        "--b1--\r\n"
    ).encode()


def test_a_reply_to_a_sequence_email_stops_the_enrolment(org, receiver, run_jobs, sent):
    enrollment, message_id = sent
    dropbox = receiver.dropboxes["acme"]
    reply = email(subject="Re: Hello Jane", in_reply_to=message_id, references=message_id, to=dropbox)
    receiver.send(reply, [dropbox])
    run_jobs()
    enrollment = state(org, enrollment)
    assert enrollment.status == EnrollmentStatus.STOPPED
    assert enrollment.stop_reason == StopReason.REPLIED
    assert enrollment.stop_details["threaded"] is True
    with schema_context(org.schema_name):
        received = Activity.objects.get(type=ActivityType.EMAIL, message_id="<m1@customer.test>")
        sent_activity = SentStep.objects.get(message_id=message_id).activity
        assert received.thread_id == sent_activity.thread_id


def test_a_bounce_marks_the_address_on_every_record_and_stops_the_enrolment(
    org, receiver, run_jobs, sent, admin
):
    enrollment, message_id = sent
    with schema_context(org.schema_name):
        contact = contact_create(actor=admin, name="Jane (contact)", email="jane@customer.test")
    dropbox = receiver.dropboxes["acme"]
    receiver.send(dsn(dropbox, returned=message_id), [dropbox], sender="")
    run_jobs()
    enrollment = state(org, enrollment)
    assert enrollment.status == EnrollmentStatus.STOPPED
    assert enrollment.stop_reason == StopReason.DELIVERY_FAILED
    assert enrollment.stop_details["bounce"] == "5.1.1"
    with schema_context(org.schema_name):
        assert address_bouncing("Jane@Customer.test")
        bounced = BouncedAddress.objects.get(address="jane@customer.test")
        assert bounced.status == "5.1.1" and "User unknown" in bounced.diagnostic
        for anchor in ({"lead_id": enrollment.lead_id}, {"contact": contact}):
            marks = Activity.objects.filter(
                type=ActivityType.SYSTEM, metadata__event="email_bounced", **anchor
            )
            assert marks.count() == 1
        # a report is not a reply: nothing recorded as an email from Jane
        assert not Activity.objects.filter(type=ActivityType.EMAIL, message_id="<dsn-1@mx.customer.test>")
        stored = InboundMessage.objects.get(message_id="<dsn-1@mx.customer.test>")
        assert stored.status == InboundStatus.BOUNCE
        assert stored.outcome["returned_message_id"] == message_id


def test_a_delay_report_marks_nothing(org, receiver, run_jobs, sent):
    enrollment, _ = sent
    dropbox = receiver.dropboxes["acme"]
    receiver.send(dsn(dropbox, action="delayed", status="4.4.7"), [dropbox], sender="")
    run_jobs()
    assert state(org, enrollment).status == EnrollmentStatus.ACTIVE
    with schema_context(org.schema_name):
        assert not BouncedAddress.objects.exists()


@pytest.mark.parametrize("how", ["our_message_id", "loop_header"])
def test_our_own_message_come_back_is_not_a_reply(org, receiver, run_jobs, sent, how):
    enrollment, message_id = sent
    dropbox = receiver.dropboxes["acme"]
    if how == "our_message_id":  # e.g. a forwarding rule that sends our email straight back
        looped = email(sender="Jane <jane@customer.test>", message_id=message_id, to=dropbox)
    else:
        looped = email(message_id="<auto-1@customer.test>", headers={LOOP_HEADER: "acme"}, to=dropbox)
    receiver.send(looped, [dropbox])
    run_jobs()
    assert state(org, enrollment).status == EnrollmentStatus.ACTIVE
    with schema_context(org.schema_name):
        [stored] = InboundMessage.objects.all()
        assert stored.status == InboundStatus.LOOP
        assert Activity.objects.filter(type=ActivityType.EMAIL).count() == 1  # the sequence's own email
