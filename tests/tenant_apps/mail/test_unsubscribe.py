"""Sequence emails as the organization sends them: From the enrolling rep, Reply-To a reply address of the
lead, and the one-click unsubscribe (RFC 8058) whose POST puts the address on the do-not-contact list and
stops the enrolments, GET changing nothing, another organization's token doing nothing."""

from __future__ import annotations

import re
from email.utils import parseaddr

import pytest
from django.conf import settings
from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.mailroute.addresses import resolve
from shared_apps.users.models import Role, User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.mail.parsing import LOOP_HEADER
from tenant_apps.mail.unsubscribe import unsubscribe_token
from tenant_apps.privacy.models import DoNotContact, SuppressionReason
from tenant_apps.sequences import services as sequences
from tenant_apps.sequences.jobs import send_due_sequence_steps
from tenant_apps.sequences.models import EnrollmentStatus, SentStep, StopReason
from tests.conftest import client_for, host_of
from tests.tenant_apps.mail.inbound import email


@pytest.fixture
def rita(org, member):
    rep = member(role=Role.REP, email="rita@acme.test")
    with schema_context(org.schema_name):
        User.objects.filter(pk=rep.pk).update(full_name="Rita Rep")
        rep.refresh_from_db()
    return rep


@pytest.fixture
def sent(org, rita, make_lead, make_sequence, smtp):
    """Jane (Rita's lead), enrolled by Rita; the first step went out: (enrollment, the received message)."""
    jane = make_lead(name="Jane Doe", email="jane@customer.test", owner_id=rita.pk)
    sequence = make_sequence()
    with schema_context(org.schema_name):
        enrollment = sequences.sequence_enroll(sequence_id=sequence.pk, lead_id=jane.pk, actor=rita)
        assert send_due_sequence_steps(now=enrollment.enrolled_at) == {"sent": 1}
    [message] = smtp.messages
    return enrollment, message


def link_of(message) -> str:
    match = re.search(r"https?://\S+/u/(\S+)/", message.body)
    assert match is not None, message.body
    return match[1]


def browser(organization) -> Client:
    return Client(HTTP_HOST=host_of(organization), enforce_csrf_checks=True)


def test_a_step_goes_from_the_enrolling_rep_with_a_reply_address_and_our_headers(
    org, sent, receiver, run_jobs
):
    enrollment, message = sent
    assert message["From"] == "Rita Rep <rita@acme.test>"
    assert message[LOOP_HEADER] == org.schema_name
    assert message["Message-ID"].endswith(f"@{settings.INBOUND_DOMAIN}>")
    with schema_context(org.schema_name):
        assert SentStep.objects.get(enrollment=enrollment).message_id == message["Message-ID"]
        recorded = Activity.objects.get(lead_id=enrollment.lead_id, type=ActivityType.EMAIL)
    assert recorded.message_id == message["Message-ID"]
    assert recorded.metadata["from"] == "Rita Rep <rita@acme.test>"
    reply_to = parseaddr(str(message["Reply-To"]))[1]
    route = resolve(reply_to)
    assert route is not None and route.organization == org
    # the lead answers the Reply-To without In-Reply-To: it lands in the step's thread and stops the sequence
    receiver.send(email(to=reply_to, message_id="<answer@customer.test>"), [reply_to])
    run_jobs()
    with schema_context(org.schema_name):
        answer = Activity.objects.get(message_id="<answer@customer.test>")
        enrollment.refresh_from_db()
    assert answer.lead_id == enrollment.lead_id and answer.thread_id == message["Message-ID"]
    assert enrollment.status == EnrollmentStatus.STOPPED and enrollment.stop_reason == StopReason.REPLIED


def test_every_step_carries_one_click_unsubscribe_headers_and_a_link(org, sent):
    _enrollment, message = sent
    header = str(message["List-Unsubscribe"])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = (part.strip().strip("<>") for part in header.split(","))
    assert https.startswith(f"{settings.LINK_SCHEME}://{host_of(org)}")
    assert https.endswith(f"/u/{link_of(message)}/")
    assert mailto.startswith("mailto:") and "subject=unsubscribe" in mailto


def test_get_asks_and_changes_nothing_post_unsubscribes_and_stops_the_enrolment(org, sent):
    enrollment, message = sent
    token = link_of(message)
    page = browser(org).get(f"/u/{token}/")
    assert page.status_code == 200 and b"jane@customer.test" in page.content
    with schema_context(org.schema_name):
        assert not DoNotContact.objects.exists()
        enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.ACTIVE

    # one click: a bare POST with the RFC 8058 body, no cookie, no CSRF token
    done = browser(org).post(f"/u/{token}/", {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200, done.content
    with schema_context(org.schema_name):
        entry = DoNotContact.objects.get()
        enrollment.refresh_from_db()
    assert (entry.email, entry.reason) == ("jane@customer.test", SuppressionReason.UNSUBSCRIBED)
    assert enrollment.status == EnrollmentStatus.STOPPED
    assert enrollment.stop_reason == StopReason.DO_NOT_CONTACT
    # again: the same answer, nothing more
    assert browser(org).post(f"/u/{token}/").status_code == 200
    with schema_context(org.schema_name):
        assert DoNotContact.objects.count() == 1


def test_another_organizations_token_and_bad_tokens_do_nothing(org, other_org, sent, make_lead):
    make_lead(name="Jane at Globex", email="jane@customer.test", organization=other_org)
    _enrollment, message = sent
    acme_token = link_of(message)
    with schema_context(other_org.schema_name):
        globex_token = unsubscribe_token("jane@customer.test")
    for token in (acme_token[:-2] + "xx", "nonsense", "a" * 700, globex_token):
        for method in ("get", "post"):
            response = getattr(browser(org), method)(f"/u/{token}/")
            assert response.status_code == 400, (token, method)
    assert browser(other_org).post(f"/u/{acme_token}/").status_code == 400
    for organization in (org, other_org):
        with schema_context(organization.schema_name):
            assert not DoNotContact.objects.exists()


def test_a_member_sending_to_an_unsubscribed_address_is_refused(org, sent, rita, smtp):
    enrollment, message = sent
    browser(org).post(f"/u/{link_of(message)}/")
    response = client_for(org, rita).post(
        f"/api/leads/{enrollment.lead_id}/emails/send/", {"subject": "S", "body": "B"}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "do_not_contact"


def test_the_mailto_unsubscribes_the_sender(org, sent, receiver, run_jobs):
    enrollment, message = sent
    mailto = str(message["List-Unsubscribe"]).split(",")[1].strip().strip("<>")
    address, _, query = mailto.removeprefix("mailto:").partition("?")
    assert address == receiver.dropboxes["acme"] and query == "subject=unsubscribe"
    receiver.send(email(to=address, subject="unsubscribe", message_id="<unsub@customer.test>"), [address])
    run_jobs()
    with schema_context(org.schema_name):
        entry = DoNotContact.objects.get()
        enrollment.refresh_from_db()
    assert (entry.email, entry.reason) == ("jane@customer.test", SuppressionReason.UNSUBSCRIBED)
    assert enrollment.status == EnrollmentStatus.STOPPED


def test_a_member_writing_unsubscribe_to_the_dropbox_is_not_unsubscribed(org, rita, receiver, run_jobs):
    dropbox = receiver.dropboxes["acme"]
    receiver.send(
        email(sender="Rita <rita@acme.test>", to=dropbox, subject="unsubscribe", message_id="<m@acme.test>"),
        [dropbox],
    )
    run_jobs()
    with schema_context(org.schema_name):
        assert not DoNotContact.objects.exists()
