"""A member's IMAP mailbox, against a real dovecot: connected with a real login (the password write-only),
polled by UID through the same parsing and threading as the dropbox, idempotent, read-only on the server,
never across organizations."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.core.sealed import unseal
from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.mail.jobs import imap_mailboxes_sync
from tenant_apps.mail.models import Attachment, ImapMailbox
from tests.conftest import client_for
from tests.tenant_apps.mail.dovecot import USERS
from tests.tenant_apps.mail.inbound import email

MAILBOX = "/api/me/mailbox/"
PDF = b"%PDF-1.4 from the mailbox\n%%EOF\n"


@pytest.fixture
def rep(member):
    return member(role=Role.REP, email="alice@acme.test")


@pytest.fixture
def jane(make_lead, rep):
    return make_lead(name="Jane Doe", email="jane@customer.test", owner_id=rep.pk)


def connect(org, user, dovecot, login="alice@imap.test", **overrides):
    body = {
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "none",
        "username": login,
        "password": USERS[login],
        **overrides,
    }
    return client_for(org, user).put(MAILBOX, body, format="json")


def sync(organization):
    with schema_context(organization.schema_name):
        return imap_mailboxes_sync()


def emails_of(org, lead):
    with schema_context(org.schema_name):
        return list(Activity.objects.filter(lead=lead, type=ActivityType.EMAIL).order_by("pk"))


def test_a_member_connects_and_new_messages_land_on_the_timelines_once(org, rep, jane, dovecot):
    dovecot.append(
        "alice@imap.test",
        email(
            sender="Jane Doe <jane@customer.test>",
            to="alice@acme.test",
            subject="Question",
            message_id="<q1@customer.test>",
            attachments=[("spec.pdf", "application/pdf", PDF)],
        ).as_bytes(),
    )
    dovecot.append("alice@imap.test", email(sender="x@nobody.test", message_id="<n1@nobody.test>").as_bytes())
    response = connect(org, rep, dovecot)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["connected"] is True and body["username"] == "alice@imap.test"
    assert "password" not in body and USERS["alice@imap.test"] not in response.content.decode()
    with schema_context(org.schema_name):
        stored = ImapMailbox.objects.get(user=rep)
        assert unseal(stored.password_secret) == USERS["alice@imap.test"]
        assert USERS["alice@imap.test"] not in stored.password_secret
        assert AuditEvent.objects.filter(action="imap_mailbox.connected").count() == 1

    assert sync(org) == {"mailboxes": 1, "synced": 2, "failed": 0}
    [question] = emails_of(org, jane)
    assert question.message_id == "<q1@customer.test>" and question.metadata["direction"] == "inbound"
    with schema_context(org.schema_name):
        assert Attachment.objects.get(activity=question).name == "spec.pdf"
        assert ImapMailbox.objects.get(user=rep).last_uid == 2

    # nothing new: nothing done; a reply threads onto the question; the server's flags are untouched
    assert sync(org)["synced"] == 0
    dovecot.append(
        "alice@imap.test",
        email(
            sender="Jane Doe <jane@customer.test>",
            to="alice@acme.test",
            subject="Re: Question",
            message_id="<q2@customer.test>",
            in_reply_to="<q1@customer.test>",
        ).as_bytes(),
    )
    assert sync(org)["synced"] == 1
    first, reply = emails_of(org, jane)
    assert reply.thread_id == first.thread_id
    client = dovecot.client("alice@imap.test")
    client.select("INBOX", readonly=True)
    assert client.search(None, "UNSEEN")[1][0].split() == [b"1", b"2", b"3"]
    client.logout()
    status = client_for(org, rep).get(MAILBOX).json()
    assert status["messages_synced"] == 3 and status["last_error"] == "" and status["last_synced_at"]


def test_a_new_uidvalidity_starts_over_without_recording_twice(org, rep, jane, dovecot):
    message = email(sender="Jane <jane@customer.test>", message_id="<v1@customer.test>").as_bytes()
    dovecot.append("alice@imap.test", message)
    assert connect(org, rep, dovecot).status_code == 200
    assert sync(org)["synced"] == 1
    dovecot.empty("alice@imap.test")  # the mailbox made anew: UIDs start at 1 again
    dovecot.append("alice@imap.test", message)
    dovecot.append(
        "alice@imap.test", email(sender="Jane <jane@customer.test>", message_id="<v2@c.test>").as_bytes()
    )
    assert sync(org)["synced"] == 2
    assert [item.message_id for item in emails_of(org, jane)] == ["<v1@customer.test>", "<v2@c.test>"]


def test_a_wrong_password_or_folder_is_a_clear_400_and_nothing_is_saved(org, rep, dovecot):
    wrong = connect(org, rep, dovecot, password="nope")
    assert wrong.status_code == 400 and wrong.json()["code"] == "imap_auth_failed", wrong.content
    assert "refused the username or password" in wrong.json()["message"]
    folder = connect(org, rep, dovecot, folder="No Such Folder")
    assert folder.status_code == 400 and folder.json()["code"] == "imap_folder_missing", folder.content
    for body, field in (
        ({"port": 0}, "port"),
        ({"security": "ssl"}, "security"),
        ({"host": "bad host!"}, "host"),
    ):
        bad = connect(org, rep, dovecot, **body)
        assert bad.status_code == 400 and field in bad.json()["errors"], bad.content
    with schema_context(org.schema_name):
        assert not ImapMailbox.objects.exists()


def test_viewers_cannot_connect_and_members_disconnect_their_own(org, member, rep, dovecot):
    viewer = member(role=Role.VIEWER)
    assert connect(org, viewer, dovecot).status_code == 403
    assert connect(org, rep, dovecot).status_code == 200
    other = member(role=Role.REP)
    assert client_for(org, other).get(MAILBOX).json()["connected"] is False
    assert client_for(org, other).delete(MAILBOX).status_code == 204
    assert client_for(org, rep).get(MAILBOX).json()["connected"] is True  # another's delete touched nothing
    assert client_for(org, rep).delete(MAILBOX).status_code == 204
    gone = client_for(org, rep).get(MAILBOX).json()
    assert gone["connected"] is False and "host" not in gone


def test_a_failing_mailbox_keeps_its_error_and_others_still_sync(
    org, rep, member, make_lead, dovecot, settings
):
    jane = make_lead(name="Jane", email="jane@customer.test")
    bob = member(role=Role.REP, email="bob@acme.test")
    assert connect(org, rep, dovecot).status_code == 200
    assert connect(org, bob, dovecot, login="bob@imap.test").status_code == 200
    dovecot.append(
        "bob@imap.test", email(sender="Jane <jane@customer.test>", message_id="<b1@c.test>").as_bytes()
    )
    with schema_context(org.schema_name):
        ImapMailbox.objects.filter(user=rep).update(password_secret="not-sealed")
    assert sync(org) == {"mailboxes": 2, "synced": 1, "failed": 1}
    assert [item.message_id for item in emails_of(org, jane)] == ["<b1@c.test>"]
    assert "connect the mailbox again" in client_for(org, rep).get(MAILBOX).json()["last_error"]


def test_mailboxes_sync_into_their_own_organization_only(org, other_org, rep, member, make_lead, dovecot):
    ours = make_lead(name="Jane", email="jane@customer.test")
    theirs = make_lead(name="Jane", email="jane@customer.test", organization=other_org)
    gina = member(role=Role.REP, organization=other_org, email="gina@globex.test")
    assert connect(other_org, gina, dovecot, login="gina@imap.test").status_code == 200
    dovecot.append(
        "gina@imap.test", email(sender="Jane <jane@customer.test>", message_id="<g1@c.test>").as_bytes()
    )
    assert sync(org) == {"mailboxes": 0, "synced": 0, "failed": 0}  # acme's run knows no globex mailbox
    assert sync(other_org)["synced"] == 1
    assert emails_of(org, ours) == []
    assert [item.message_id for item in emails_of(other_org, theirs)] == ["<g1@c.test>"]
