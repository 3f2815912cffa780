"""Members send email from a lead's or contact's page (POST .../emails/send/): what the real SMTP sink
receives, what the timeline records, and the reply that comes back through the real inbound receiver."""

from __future__ import annotations

from email.utils import parseaddr

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from shared_apps.mailroute.addresses import resolve
from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.contacts.services import contact_create
from tenant_apps.mail.models import BouncedAddress
from tenant_apps.mail.parsing import LOOP_HEADER
from tenant_apps.privacy.models import SuppressionReason
from tenant_apps.privacy.services import suppress
from tests.conftest import client_for
from tests.tenant_apps.mail.inbound import email


@pytest.fixture
def rep(org, member):
    user = member(role=Role.REP, email="rita@acme.test")
    with schema_context(org.schema_name):
        user.full_name = "Rita Rep"
        user.save(update_fields=["full_name"])
    return user


@pytest.fixture
def jane(make_lead, rep):
    return make_lead(name="Jane Doe", email="jane@customer.test", owner_id=rep.pk)


def send(org, user, path, **body):
    return client_for(org, user).post(path, body, format="json")


def emails_of(org, **anchor):
    with schema_context(org.schema_name):
        return list(Activity.objects.filter(type=ActivityType.EMAIL, **anchor).order_by("pk"))


def test_a_rep_sends_from_their_lead_and_the_reply_lands_in_the_same_thread(
    org, smtp, receiver, run_jobs, rep, jane
):
    response = send(org, rep, f"/api/leads/{jane.pk}/emails/send/", subject="Our offer", body="Hi Jane,\n")
    assert response.status_code == 201, response.content
    sent = response.json()
    [received] = smtp.messages
    assert received.recipients == ["jane@customer.test"]
    assert received["From"] == "Rita Rep <rita@acme.test>"
    assert received["Subject"] == "Our offer"
    assert received.body == "Hi Jane,\n"
    assert received["Message-ID"] == sent["message_id"]
    assert sent["message_id"].endswith(f"@{settings.INBOUND_DOMAIN}>")
    assert received[LOOP_HEADER] == org.schema_name
    reply_to = parseaddr(str(received["Reply-To"]))[1]
    route = resolve(reply_to)
    assert route is not None and route.organization == org and route.kind == "reply"
    [recorded] = emails_of(org, lead=jane)
    assert recorded.pk == sent["id"]
    assert recorded.message_id == sent["message_id"] == recorded.thread_id
    assert recorded.actor_id == rep.pk
    assert recorded.metadata["direction"] == "outbound"
    assert recorded.metadata["reply_to"] == reply_to

    # Jane answers to the Reply-To, without naming our message: it still lands in that thread
    reply = email(
        sender="Jane Doe <jane@customer.test>",
        to=reply_to,
        subject="Re: Our offer",
        message_id="<answer-1@customer.test>",
    )
    assert receiver.send(reply, [reply_to], sender="jane@customer.test") == {}
    run_jobs()
    first, answer = emails_of(org, lead=jane)
    assert answer.message_id == "<answer-1@customer.test>"
    assert answer.thread_id == first.thread_id
    assert answer.metadata["direction"] == "inbound"

    # the rep answers the answer (by activity id): In-Reply-To and References name it, same thread
    path = f"/api/leads/{jane.pk}/emails/send/"
    again = send(org, rep, path, subject="Re: Our offer", body="Sure.", in_reply_to=answer.pk)
    assert again.status_code == 201, again.content
    second = smtp.messages[-1]
    assert second["In-Reply-To"] == "<answer-1@customer.test>"
    assert "<answer-1@customer.test>" in str(second["References"])
    assert again.json()["thread_id"] == first.thread_id


def test_a_reply_to_our_message_by_message_id_threads_too(org, smtp, receiver, run_jobs, rep, jane):
    sent = send(org, rep, f"/api/leads/{jane.pk}/emails/send/", subject="Hello", body="Hi").json()
    dropbox = receiver.dropboxes["acme"]
    reply = email(to=dropbox, message_id="<answer-2@customer.test>", in_reply_to=sent["message_id"])
    receiver.send(reply, [dropbox], sender="jane@customer.test")
    run_jobs()
    assert [row.thread_id for row in emails_of(org, lead=jane)] == [sent["thread_id"]] * 2


def test_cc_and_another_to_and_a_contact(org, smtp, admin):
    with schema_context(org.schema_name):
        contact = contact_create(actor=admin, name="Carl Client", email="carl@client.test")
    response = send(
        org,
        admin,
        f"/api/contacts/{contact.pk}/emails/send/",
        subject="Hello\nthere",
        body="Hi",
        to="Carl.Other@Client.test",
        cc=["boss@client.test"],
    )
    assert response.status_code == 201, response.content
    [received] = smtp.messages
    assert sorted(received.recipients) == ["boss@client.test", "carl.other@client.test"]
    assert received["Subject"] == "Hello there"
    assert received["Cc"] == "boss@client.test"
    [recorded] = emails_of(org, contact=contact)
    assert recorded.metadata["to"] == "carl.other@client.test"


def test_send_as_member_off_uses_the_platform_address_under_the_members_name(org, smtp, rep, jane, settings):
    settings.MAIL_SEND_AS_MEMBER = False
    assert send(org, rep, f"/api/leads/{jane.pk}/emails/send/", subject="S", body="B").status_code == 201
    platform = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    assert smtp.messages[0]["From"] == f"Rita Rep <{platform}>"


def test_do_not_contact_and_bouncing_addresses_are_refused_naming_the_field(org, smtp, rep, jane):
    with schema_context(org.schema_name):
        suppress("jane@customer.test", SuppressionReason.UNSUBSCRIBED)
        BouncedAddress.objects.create(address="gone@customer.test")
    path = f"/api/leads/{jane.pk}/emails/send/"
    refused = send(org, rep, path, subject="S", body="B")
    assert refused.status_code == 400 and refused.json()["code"] == "do_not_contact"
    assert "to" in refused.json()["errors"]
    bounced = send(org, rep, path, subject="S", body="B", to="other@customer.test", cc=["gone@customer.test"])
    assert bounced.status_code == 400 and bounced.json()["code"] == "bouncing"
    assert "cc" in bounced.json()["errors"]
    assert smtp.messages == [] and emails_of(org, lead=jane) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "B"}, "subject"),
        ({"subject": "S", "body": "   "}, "body"),
        ({"subject": "S", "body": "B", "to": "not an address"}, "to"),
        ({"subject": "S", "body": "B", "cc": "x@y.test"}, "cc"),
        ({"subject": "S", "body": "B", "in_reply_to": "<nope@x>"}, "in_reply_to"),
        ({"subject": "S", "body": "B", "in_reply_to": "99999"}, "in_reply_to"),
        ({"subject": "S", "body": "B", "bcc": "x@y.test"}, "bcc"),
        ({"subject": "S", "body": "B", "to": f"someone@{settings.INBOUND_DOMAIN}"}, "to"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(org, smtp, rep, jane, body, field):
    response = send(org, rep, f"/api/leads/{jane.pk}/emails/send/", **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert smtp.messages == []


def test_a_lead_without_email_needs_a_to(org, smtp, rep, make_lead):
    lead = make_lead(name="No Mail", owner_id=rep.pk)
    response = send(org, rep, f"/api/leads/{lead.pk}/emails/send/", subject="S", body="B")
    assert response.status_code == 400 and "to" in response.json()["errors"]


def test_who_may_send(org, smtp, member, rep, jane, make_lead, other_org):
    path = f"/api/leads/{jane.pk}/emails/send/"
    other_rep = member(role=Role.REP)
    assert send(org, other_rep, path, subject="S", body="B").status_code in (403, 404)
    assert send(org, member(role=Role.VIEWER), path, subject="S", body="B").status_code == 403
    assert send(org, member(role=Role.MANAGER), path, subject="S", body="B").status_code == 201
    # another organization's member cannot reach it, nor anything about it
    foreign = member(role=Role.ADMIN, organization=other_org)
    assert send(other_org, foreign, path, subject="S", body="B").status_code == 404
    assert len(smtp.messages) == 1


def test_a_server_refusing_the_message_is_a_502_and_nothing_is_recorded(org, smtp, rep, jane):
    smtp.data_reply = "554 5.7.1 Rejected"
    response = send(org, rep, f"/api/leads/{jane.pk}/emails/send/", subject="S", body="B")
    assert response.status_code == 502 and response.json()["code"] == "email_not_sent"
    assert emails_of(org, lead=jane) == []
