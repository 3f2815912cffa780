"""Inbound email end to end: real SMTP to the running receiver (smtplib), the rq job it enqueues run on the
real Redis, the results read in each organization's schema."""

from __future__ import annotations

import smtplib
from email import policy

import pytest
from django_tenants.utils import schema_context

from shared_apps.mailroute.addresses import reply_address
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.services import activity_log
from tenant_apps.contacts.services import contact_create
from tenant_apps.leads.models import Lead
from tenant_apps.mail import services
from tenant_apps.mail.models import Attachment, InboundMessage, InboundStatus
from tests.tenant_apps.mail.inbound import email

PDF = b"%PDF-1.4 a tiny document\n%%EOF\n"


def emails_of(organization, **anchor):
    with schema_context(organization.schema_name):
        return list(Activity.objects.filter(type=ActivityType.EMAIL, **anchor).order_by("pk"))


def inbound(organization, message_id):
    with schema_context(organization.schema_name):
        return InboundMessage.objects.get(message_id=message_id)


@pytest.fixture
def jane(make_lead):
    return make_lead(name="Jane Doe", email="jane@customer.test")


def test_a_message_to_the_dropbox_lands_on_every_matching_record_with_its_attachment(
    org, receiver, run_jobs, jane, admin
):
    with schema_context(org.schema_name):
        contact = contact_create(actor=admin, name="Bob Buyer", email="bob@customer.test")
    message = email(
        to=f"Rep <rep@acme.test>, {receiver.dropboxes['acme']}",
        cc="Bob <BOB@customer.test>",
        subject="Quote, please",
        body="Can we get a quote?",
        attachments=[("brief.pdf", "application/pdf", PDF)],
    )
    assert receiver.send(message, [receiver.dropboxes["acme"]]) == {}
    jobs = run_jobs()
    assert [job.get_status() for job in jobs] == ["finished"]

    [on_lead] = emails_of(org, lead=jane)
    [on_contact] = emails_of(org, contact=contact)
    for activity in (on_lead, on_contact):
        assert activity.subject == "Quote, please"
        assert activity.body == "Can we get a quote?"
        assert activity.message_id == "<m1@customer.test>"
        assert activity.metadata["direction"] == "inbound"
        [listed] = activity.metadata["attachments"]
        assert listed["name"] == "brief.pdf" and listed["size"] == len(PDF)
        with schema_context(org.schema_name):
            attachment = Attachment.objects.get(pk=listed["id"])
            assert attachment.activity_id == activity.pk
            assert attachment.content_type == "application/pdf"
            assert attachment.file.read() == PDF
            assert attachment.file.name.startswith(f"{org.pk}/attachments/")
    stored = inbound(org, "<m1@customer.test>")
    assert stored.status == InboundStatus.RECORDED
    assert stored.raw_name.startswith(f"{org.pk}/inbound/")
    assert stored.recipients == [receiver.dropboxes["acme"]]


def test_an_html_only_message_in_another_charset_is_read_as_text(org, receiver, run_jobs, jane):
    raw = (
        "From: Jane <jane@customer.test>\r\n"
        f"To: {receiver.dropboxes['acme']}\r\n"
        "Subject: =?iso-8859-1?q?R=E9sum=E9?=\r\n"
        "Message-ID: <html-1@customer.test>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/html; charset="iso-8859-1"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "<html><head><style>p{color:red}</style></head><body><p>Caf=E9 at <b>noon</b>?</p>"
        "<script>alert(1)</script><p>Jane</p></body></html>\r\n"
    ).encode("ascii")
    receiver.send(raw, [receiver.dropboxes["acme"]])
    run_jobs()
    [activity] = emails_of(org, lead=jane)
    assert activity.subject == "Résumé"
    assert activity.body == "Café at\nnoon\n?\nJane"
    assert "alert" not in activity.body and "color" not in activity.body


def test_unknown_recipients_are_refused_at_rcpt_time(org, receiver, run_jobs):
    forged = reply_address(org, 1).replace("reply+", "reply+9")  # another id under the same signature
    for address in (
        f"nobody@{receiver.dropboxes['acme'].partition('@')[2]}",
        receiver.dropboxes["acme"].replace("@", "@not-"),  # another domain
        forged,
        "reply+1-1-0000000000000000000@" + receiver.dropboxes["acme"].partition("@")[2],
    ):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            receiver.send(email(), [address])
        assert refused.value.recipients[address][0] == 550
    assert run_jobs() == []


def test_one_unknown_recipient_does_not_refuse_the_known_one(org, receiver, run_jobs, jane):
    unknown = "ghost@" + receiver.dropboxes["acme"].partition("@")[2]
    refused = receiver.send(email(to=receiver.dropboxes["acme"]), [unknown, receiver.dropboxes["acme"]])
    assert refused[unknown][0] == 550
    run_jobs()
    assert len(emails_of(org, lead=jane)) == 1


def test_a_message_over_the_size_limit_is_refused_with_552(org, receiver, run_jobs, settings):
    big = email(body="x" * 100, attachments=[("big.bin", "application/octet-stream", b"\0" * 30_000_000)])
    raw = big.as_bytes(policy=policy.SMTP)  # CRLF line ends, as on the wire
    assert len(raw) > settings.INBOUND_MAX_BYTES
    # a client that declares the size (smtplib does, the server announces SIZE) is refused at MAIL FROM
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        receiver.send(raw, [receiver.dropboxes["acme"]])
    assert refused.value.smtp_code == 552
    # one that does not is refused after DATA
    with receiver.client() as client:
        client.ehlo()
        assert client.mail("someone@example.test")[0] == 250
        assert client.rcpt(receiver.dropboxes["acme"])[0] == 250
        code, _ = client.data(raw)
    assert code == 552
    assert run_jobs() == []


def test_a_reply_joins_the_thread_of_the_email_it_answers(org, receiver, run_jobs, jane, admin):
    with schema_context(org.schema_name):
        first = activity_log(
            actor=admin, type=ActivityType.EMAIL, lead_id=jane.pk, subject="Hello", body="Hi"
        )
    reply = email(
        subject="Re: Hello",
        message_id="<reply-1@customer.test>",
        in_reply_to=first.message_id,
        references=first.message_id,
        to=receiver.dropboxes["acme"],
    )
    receiver.send(reply, [receiver.dropboxes["acme"]])
    run_jobs()
    recorded = emails_of(org, lead=jane)[-1]
    assert recorded.message_id == "<reply-1@customer.test>"
    assert recorded.thread_id == first.thread_id


def test_a_forged_in_reply_to_naming_another_organizations_message_threads_nothing_across(
    org, other_org, receiver, run_jobs, jane, make_lead
):
    globex_lead = make_lead(name="Jane at Globex", email="jane@customer.test", organization=other_org)
    with schema_context(other_org.schema_name):
        theirs = activity_log(
            actor=None, type=ActivityType.EMAIL, lead_id=globex_lead.pk, subject="Secret", body="x"
        )
    forged = email(
        message_id="<forged@customer.test>",
        in_reply_to=theirs.message_id,
        references=theirs.message_id,
        subject="Re: Secret",
        to=receiver.dropboxes["acme"],
    )
    receiver.send(forged, [receiver.dropboxes["acme"]])
    run_jobs()
    [recorded] = emails_of(org, lead=jane)
    with schema_context(org.schema_name):
        # in acme, the id names no message: nothing of globex's thread (subject, body) is reached or shown
        assert not Activity.objects.filter(message_id=theirs.message_id).exists()
    assert recorded.body == "Hi there."
    assert [activity.pk for activity in emails_of(other_org, lead=globex_lead)] == [theirs.pk]
    with schema_context(other_org.schema_name):
        assert not InboundMessage.objects.filter(message_id="<forged@customer.test>").exists()


def test_a_message_for_two_organizations_is_processed_in_each_on_its_own(
    org, other_org, receiver, run_jobs, jane, make_lead
):
    globex_jane = make_lead(name="Jane", email="jane@customer.test", organization=other_org)
    both = [receiver.dropboxes["acme"], receiver.dropboxes["globex"]]
    receiver.send(email(to=", ".join(both)), both)
    jobs = run_jobs()
    assert sorted(job.meta["organization"] for job in jobs) == ["acme", "globex"]
    [ours] = emails_of(org, lead=jane)
    [theirs] = emails_of(other_org, lead=globex_jane)
    assert inbound(org, ours.message_id).raw_name.startswith(f"{org.pk}/")
    assert inbound(other_org, theirs.message_id).raw_name.startswith(f"{other_org.pk}/")
    assert inbound(org, ours.message_id).recipients == [receiver.dropboxes["acme"]]


def test_a_second_delivery_of_the_same_message_is_ignored(org, receiver, run_jobs, jane):
    for _ in range(2):
        receiver.send(email(to=receiver.dropboxes["acme"]), [receiver.dropboxes["acme"]])
    jobs = run_jobs()
    # one drain job takes both (the second came while the first's job waited); the second: the first's status
    assert [job.return_value() for job in jobs] == [{"recorded": 2}]
    assert len(emails_of(org, lead=jane)) == 1
    with schema_context(org.schema_name):
        assert InboundMessage.objects.filter(message_id="<m1@customer.test>").count() == 1
        stored = InboundMessage.objects.get(message_id="<m1@customer.test>")
        assert stored.raw_name  # the first copy is kept


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x01\x02 not an email at all",
        b"From: jane@customer.test\r\nTo: x@y\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
        b"--zz\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"@@@not base64@@@\r\n--zz\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;"
        b' filename="=?utf-8?q?../../etc/passwd?="\r\n\r\nAAAA\r\n',
        b"From: <<<>>>@@\r\nSubject: =?x-unknown?b?!!!?=\r\nMessage-ID: <<<bad>>>\r\n\r\nbody",
    ],
    ids=["garbage", "broken-multipart", "broken-headers"],
)
def test_malformed_messages_are_kept_and_never_fail_the_job(org, receiver, run_jobs, jane, raw):
    receiver.send(raw, [receiver.dropboxes["acme"]])
    [job] = run_jobs()
    assert job.get_status() == "finished"
    with schema_context(org.schema_name):
        stored = InboundMessage.objects.get()
        assert stored.status in (InboundStatus.MALFORMED, InboundStatus.RECORDED, InboundStatus.UNMATCHED)
        assert abs(stored.size - len(raw)) <= 2  # kept as it came (a final line end aside)
        for attachment in Attachment.objects.all():
            assert "/" not in attachment.name and ".." not in attachment.name


def test_unknown_senders_make_leads_only_when_the_organization_says_so(org, receiver, run_jobs, admin):
    dropbox = receiver.dropboxes["acme"]
    receiver.send(email(sender="New Person <new@prospect.test>", to=dropbox), [dropbox])
    run_jobs()
    assert inbound(org, "<m1@customer.test>").status == InboundStatus.UNMATCHED
    with schema_context(org.schema_name):
        assert not Lead.objects.filter(email="new@prospect.test").exists()
        services.mail_settings_update(actor=admin, changes={"create_leads_from_unknown": True})
    again = email(sender="New Person <new@prospect.test>", to=dropbox, message_id="<m2@x.test>")
    receiver.send(again, [dropbox])
    run_jobs()
    with schema_context(org.schema_name):
        lead = Lead.objects.get(email="new@prospect.test")
        assert lead.name == "New Person"
    [activity] = emails_of(org, lead=lead)
    assert activity.message_id == "<m2@x.test>"


def test_a_reply_address_puts_the_answer_on_its_record_and_thread(org, receiver, run_jobs, admin):
    with schema_context(org.schema_name):
        contact = contact_create(actor=admin, name="Bob", email="bob@customer.test")
        address = services.reply_address_create(record=contact, message_id="<sent-1@acme.test>")
    # written by someone whose address no record has
    receiver.send(
        email(sender="Assistant <assistant@elsewhere.test>", to=address, in_reply_to="<sent-1@acme.test>"),
        [address],
    )
    run_jobs()
    [activity] = emails_of(org, contact=contact)
    assert activity.thread_id == "<sent-1@acme.test>"
    assert inbound(org, "<m1@customer.test>").recipients == [address]


def test_mail_a_member_sends_is_recorded_as_outbound(org, receiver, run_jobs, jane, member):
    rep = member(email="sam@acme.test")
    dropbox = receiver.dropboxes["acme"]
    receiver.send(email(sender=f"Sam <{rep.email}>", to="jane@customer.test", cc=dropbox), [dropbox])
    run_jobs()
    [activity] = emails_of(org, lead=jane)
    assert activity.metadata["direction"] == "outbound"


def test_a_reply_to_a_merged_records_address_lands_on_the_survivor(org, receiver, run_jobs, admin, make_lead):
    from tenant_apps.dedupe.services import lead_merge

    survivor = make_lead(name="Jane", email="jane@customer.test")
    merged = make_lead(name="Jane D.", email="jane.d@old.test")
    with schema_context(org.schema_name):
        address = services.reply_address_create(record=merged, message_id="<sent-9@acme.test>")
        lead_merge(survivor_id=survivor.pk, merged_ids=[merged.pk], field_winners={}, actor=admin)
    receiver.send(email(sender="Someone <someone@elsewhere.test>", to=address), [address])
    run_jobs()
    [activity] = emails_of(org, lead=survivor)
    assert activity.thread_id == "<sent-9@acme.test>"
    assert emails_of(org, lead=merged) == []
