"""The member's own IMAP mailbox page, against a real dovecot: connected with a real login (a failure named,
nothing saved), shown without its password, disconnected; viewers see it and cannot connect."""

from __future__ import annotations

from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.mail.models import ImapMailbox
from tests.tenant_apps.mail.dovecot import USERS, _dovecot, dovecot  # noqa: F401 (fixtures)

PAGE = "/settings/mailbox/"


def form(dovecot, **overrides):  # noqa: F811 (the fixture's name)
    return {
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "none",
        "username": "alice@imap.test",
        "password": USERS["alice@imap.test"],
        "folder": "",
        **overrides,
    }


def test_a_rep_connects_sees_and_disconnects_their_own_mailbox(org, web, dovecot):  # noqa: F811
    client = web(Role.REP)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "No mailbox connected." in page.content.decode()
    assert client.get("/settings/email/").content.decode().count('href="/settings/mailbox/"') == 1

    done = client.post(f"{PAGE}connect/", form(dovecot))
    assert done.status_code == 302 and done["Location"] == PAGE
    page = client.get(PAGE).content.decode()
    assert "Your mailbox is connected" in page
    assert "alice@imap.test" in page and "INBOX" in page
    assert USERS["alice@imap.test"] not in page  # the password is never shown
    with schema_context(org.schema_name):
        mailbox = ImapMailbox.objects.get()
        assert (mailbox.host, mailbox.port, mailbox.folder) == ("127.0.0.1", dovecot.port, "INBOX")

    done = client.post(f"{PAGE}disconnect/")
    assert done.status_code == 302 and done["Location"] == PAGE
    assert "No mailbox connected." in client.get(PAGE).content.decode()
    with schema_context(org.schema_name):
        assert not ImapMailbox.objects.exists()


def test_a_wrong_password_or_bad_input_is_named_and_saves_nothing(org, web, dovecot):  # noqa: F811
    client = web(Role.REP)
    refused = client.post(f"{PAGE}connect/", form(dovecot, password="wrong"), HTTP_X_REQUESTED_WITH="fetch")
    assert refused.status_code == 400
    assert refused.json()["code"] == "imap_auth_failed"
    bad = client.post(f"{PAGE}connect/", form(dovecot, port="0"), HTTP_X_REQUESTED_WITH="fetch")
    assert bad.status_code == 400
    assert "port" in bad.json()["message"].lower()
    # as a page: back to the form with the message
    shown = client.post(f"{PAGE}connect/", form(dovecot, password="wrong"), HTTP_REFERER=PAGE, follow=True)
    assert shown.status_code == 200 and "No mailbox connected." in shown.content.decode()
    with schema_context(org.schema_name):
        assert not ImapMailbox.objects.exists()


def test_viewers_see_the_page_but_cannot_connect(org, web, dovecot):  # noqa: F811
    client = web(Role.VIEWER)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert 'name="password"' not in page.content.decode()
    refused = client.post(f"{PAGE}connect/", form(dovecot), HTTP_X_REQUESTED_WITH="fetch")
    assert refused.status_code == 403
    with schema_context(org.schema_name):
        assert not ImapMailbox.objects.exists()
