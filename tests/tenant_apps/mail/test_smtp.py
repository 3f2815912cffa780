"""The organization's own SMTP server: configured by admins (the password sealed, never returned), tested
with a real message, and used for members' emails and sequence steps when enabled — against real aiosmtpd
servers requiring STARTTLS and AUTH (a self-signed certificate made by the test), never another
organization's."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.core.sealed import seal, unseal
from shared_apps.users.models import Role, User
from tenant_apps.mail.models import MailSettings
from tenant_apps.sequences import services as sequences
from tenant_apps.sequences.jobs import send_due_sequence_steps
from tests.conftest import client_for
from tests.tenant_apps.mail.orgsmtp import PASSWORD, USERNAME, smtp_settings
from tests.tenant_apps.web.conftest import signed_in

SETTINGS = "/api/settings/email/"
TEST = "/api/settings/email/smtp-test/"


@pytest.fixture
def admin_api(org, admin):
    return client_for(org, admin)


@pytest.fixture
def rita(org, member):
    rep = member(role=Role.REP, email="rita@acme.test")
    with schema_context(org.schema_name):
        User.objects.filter(pk=rep.pk).update(full_name="Rita Rep")
        rep.refresh_from_db()
    return rep


@pytest.fixture
def jane(make_lead, rita):
    return make_lead(name="Jane Doe", email="jane@customer.test", owner_id=rita.pk)


def configure(client, server, **overrides):
    response = client.patch(SETTINGS, smtp_settings(server, **overrides), format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_an_admin_configures_the_server_and_the_password_is_sealed_and_never_shown(
    org, admin_api, api, org_smtp
):
    body = configure(
        admin_api, org_smtp, smtp_from_domains=["Acme.test"], smtp_from_address="sales@acme.test"
    )
    assert "smtp_password" not in body and PASSWORD not in str(body)
    assert body["smtp_password_set"] is True
    assert body["smtp_enabled"] is True and body["smtp_host"] == "127.0.0.1"
    assert body["smtp_security"] == "starttls" and body["smtp_username"] == USERNAME
    assert body["smtp_from_domains"] == ["acme.test"] and body["smtp_from_address"] == "sales@acme.test"
    for role in (Role.REP, Role.VIEWER):
        seen = api(role).get(SETTINGS)
        assert seen.status_code == 200 and PASSWORD not in seen.content.decode()
        assert seen.json()["smtp_password_set"] is True
    with schema_context(org.schema_name):
        row = MailSettings.objects.get()
        assert PASSWORD not in row.smtp_password_secret and unseal(row.smtp_password_secret) == PASSWORD
        event = AuditEvent.objects.get(action="email_settings.updated")
        assert event.changes["smtp_password"] == "(changed)"
        assert event.changes["smtp_host"] == ["", "127.0.0.1"]
        assert PASSWORD not in str(event.changes)
    # the same password again is no change; an empty one removes it
    configure(admin_api, org_smtp)
    with schema_context(org.schema_name):
        assert AuditEvent.objects.filter(action="email_settings.updated").count() == 1
    cleared = admin_api.patch(SETTINGS, {"smtp_password": ""}, format="json").json()
    assert cleared["smtp_password_set"] is False


def test_only_admins_configure_or_test_and_bad_input_names_the_field(admin_api, api, org_smtp, settings):
    for role in (Role.MANAGER, Role.REP, Role.VIEWER):
        client = api(role)
        assert client.patch(SETTINGS, smtp_settings(org_smtp), format="json").status_code == 403, role
        assert client.post(TEST, {}, format="json").status_code == 403, role
    for overrides, field in (
        ({"smtp_port": 0}, "smtp_port"),
        ({"smtp_port": "many"}, "smtp_port"),
        ({"smtp_security": "ssl"}, "smtp_security"),
        ({"smtp_host": "not a host!"}, "smtp_host"),
        ({"smtp_host": ""}, "smtp_host"),  # enabled without a host
        ({"smtp_from_domains": ["acme.test"]}, "smtp_from_address"),
        ({"smtp_from_domains": ["not a domain"], "smtp_from_address": "a@acme.test"}, "smtp_from_domains"),
        ({"smtp_from_domains": ["acme.test"], "smtp_from_address": "a@other.test"}, "smtp_from_address"),
        ({"smtp_from_address": "nope"}, "smtp_from_address"),
        ({"smtp_password": "x" * 501}, "smtp_password"),
        ({"smtp_host": "no-such-host.invalid"}, "smtp_host"),
    ):
        bad = admin_api.patch(SETTINGS, smtp_settings(org_smtp, **overrides), format="json")
        assert bad.status_code == 400 and field in bad.json()["errors"], (overrides, bad.content)
    assert admin_api.post(TEST, {"to": "nope"}, format="json").json()["errors"].keys() == {"to"}
    # a host on a private network, unless the platform allows it
    settings.MAIL_SMTP_ALLOW_PRIVATE_HOSTS = False
    private = admin_api.patch(SETTINGS, smtp_settings(org_smtp), format="json")
    assert private.status_code == 400 and private.json()["code"] == "smtp_host_private"
    assert "smtp_host" in private.json()["errors"]


def test_the_test_message_goes_through_the_organizations_server_with_starttls_and_auth(
    org, admin, admin_api, org_smtp, smtp
):
    configure(admin_api, org_smtp, smtp_enabled=False)  # tested before being enabled
    response = admin_api.post(TEST, {"to": "ops@acme.test"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"sent": True, "to": "ops@acme.test", "host": "127.0.0.1"}
    [received] = org_smtp.messages
    assert received.recipients == ["ops@acme.test"] and "test message" in received.body
    assert org_smtp.logins == [USERNAME]
    assert smtp.messages == []  # not the platform's
    # without `to`: the admin's own address
    assert admin_api.post(TEST, {}, format="json").json()["to"] == admin.email
    with schema_context(org.schema_name):
        events = AuditEvent.objects.filter(action="email_settings.smtp_tested").order_by("pk")
        assert [event.changes["ok"] for event in events] == [True, True]


def test_implicit_tls_works_too(admin_api, org_smtps):
    configure(admin_api, org_smtps, smtp_security="tls")
    response = admin_api.post(TEST, {"to": "ops@acme.test"}, format="json")
    assert response.status_code == 200, response.content
    assert len(org_smtps.messages) == 1 and org_smtps.logins == [USERNAME]


def test_a_wrong_password_is_a_clear_400_naming_the_step(org, admin_api, org_smtp):
    configure(admin_api, org_smtp, smtp_password="wrong-password")
    response = admin_api.post(TEST, {"to": "ops@acme.test"}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "smtp_auth_failed"
    assert "535" in body["message"] and "127.0.0.1" in body["message"]
    assert org_smtp.messages == []
    with schema_context(org.schema_name):
        event = AuditEvent.objects.get(action="email_settings.smtp_tested")
        assert event.changes == {"to": "ops@acme.test", "ok": False, "code": "smtp_auth_failed"}


def test_tls_and_connection_failures_are_named(admin_api, org_smtp, smtp, settings):
    configure(admin_api, org_smtp)
    settings.MAIL_SMTP_CA_FILE = ""  # the self-signed certificate is not trusted
    untrusted = admin_api.post(TEST, {"to": "ops@acme.test"}, format="json")
    assert untrusted.status_code == 400 and untrusted.json()["code"] == "smtp_tls_failed", untrusted.content
    # a server without STARTTLS (the platform's test sink): never a silent downgrade to plain text
    configure(admin_api, smtp)
    plain = admin_api.post(TEST, {"to": "ops@acme.test"}, format="json")
    assert plain.status_code == 400 and plain.json()["code"] == "smtp_not_supported", plain.content
    assert smtp.messages == []
    # nothing listening
    from tests.tenant_apps.sequences.smtp import _free_port

    configure(admin_api, smtp, smtp_port=_free_port())
    closed = admin_api.post(TEST, {"to": "ops@acme.test"}, format="json")
    assert closed.status_code == 400 and closed.json()["code"] == "smtp_connect_failed", closed.content
    assert org_smtp.messages == []


def test_members_emails_go_through_the_organizations_server_when_enabled(
    org, admin_api, org_smtp, smtp, rita, jane
):
    configure(admin_api, org_smtp)
    rep = client_for(org, rita)
    response = rep.post(
        f"/api/leads/{jane.pk}/emails/send/", {"subject": "Offer", "body": "Hi"}, format="json"
    )
    assert response.status_code == 201, response.content
    [received] = org_smtp.messages
    assert received.recipients == ["jane@customer.test"]
    assert received["From"] == "Rita Rep <rita@acme.test>"
    assert received["Message-ID"] == response.json()["message_id"]
    assert smtp.messages == []
    # disabled: the platform's server again
    admin_api.patch(SETTINGS, {"smtp_enabled": False}, format="json")
    again = rep.post(f"/api/leads/{jane.pk}/emails/send/", {"subject": "Again", "body": "Hi"}, format="json")
    assert again.status_code == 201, again.content
    assert len(org_smtp.messages) == 1 and [m["Subject"] for m in smtp.messages] == ["Again"]


def test_a_refused_login_on_send_records_nothing(org, admin_api, org_smtp, rita, jane):
    configure(admin_api, org_smtp, smtp_password="wrong-password")
    response = client_for(org, rita).post(
        f"/api/leads/{jane.pk}/emails/send/", {"subject": "Offer", "body": "Hi"}, format="json"
    )
    assert response.status_code == 502 and response.json()["code"] == "email_not_sent"
    with schema_context(org.schema_name):
        assert not jane.activities.filter(type="email").exists()


def test_from_domain_hints_send_other_domains_from_the_organizations_address(
    org, admin_api, org_smtp, member, make_lead
):
    configure(admin_api, org_smtp, smtp_from_domains=["acme.test"], smtp_from_address="sales@acme.test")
    outsider = member(role=Role.REP, email="olga@freelance.test")
    with schema_context(org.schema_name):
        User.objects.filter(pk=outsider.pk).update(full_name="Olga")
    lead = make_lead(name="Lead", email="lead@customer.test", owner_id=outsider.pk)
    response = client_for(org, outsider).post(
        f"/api/leads/{lead.pk}/emails/send/", {"subject": "Hi", "body": "Hi"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert org_smtp.messages[-1]["From"] == "Olga <sales@acme.test>"


def test_sequence_emails_go_through_the_organizations_server(
    org, admin_api, org_smtp, smtp, rita, jane, make_sequence
):
    configure(admin_api, org_smtp)
    sequence = make_sequence()
    with schema_context(org.schema_name):
        enrollment = sequences.sequence_enroll(sequence_id=sequence.pk, lead_id=jane.pk, actor=rita)
        assert send_due_sequence_steps(now=enrollment.enrolled_at) == {"sent": 1}
    [received] = org_smtp.messages
    assert received.recipients == ["jane@customer.test"] and received["From"] == "Rita Rep <rita@acme.test>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert smtp.messages == []


def test_a_password_sealed_under_other_keys_fails_the_send_clearly(
    org, admin_api, org_smtp, rita, jane, settings
):
    configure(admin_api, org_smtp)
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40  # the sealing keys changed, no fallback
    response = client_for(org, rita).post(
        f"/api/leads/{jane.pk}/emails/send/", {"subject": "Offer", "body": "Hi"}, format="json"
    )
    assert response.status_code == 502 and "enter it again" in response.json()["details"]["error"]
    unreadable = admin_api.post(TEST, {"to": "ops@acme.test"}, format="json")
    assert unreadable.status_code == 400 and unreadable.json()["code"] == "smtp_password_unreadable"
    assert org_smtp.messages == []
    # with the old key as a fallback, it opens again
    old = "another-secret-key-" + "x" * 40
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-third-key-" + "y" * 40, [old]
    assert unseal(seal("abc")) == "abc"


def test_another_organizations_settings_are_never_used(
    org, other_org, admin_api, org_smtp, smtp, member, make_lead
):
    configure(admin_api, org_smtp)
    theirs = member(role=Role.ADMIN, organization=other_org)
    lead = make_lead(name="Their lead", email="x@their-customer.test", organization=other_org)
    response = client_for(other_org, theirs).post(
        f"/api/leads/{lead.pk}/emails/send/", {"subject": "Theirs", "body": "Hi"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert org_smtp.messages == [] and [m["Subject"] for m in smtp.messages] == ["Theirs"]
    seen = client_for(other_org, theirs).get(SETTINGS).json()
    assert seen["smtp_enabled"] is False and seen["smtp_host"] == "" and seen["smtp_password_set"] is False
    # and their test has nothing to test
    nothing = client_for(other_org, theirs).post(TEST, {}, format="json")
    assert nothing.status_code == 400 and "smtp_host" in nothing.json()["errors"]


def test_the_settings_page_configures_and_tests_the_server(org, admin, org_smtp):
    browser = signed_in(org, admin)
    form = {
        "smtp_enabled": "on",
        "smtp_host": "127.0.0.1",
        "smtp_port": str(org_smtp.port),
        "smtp_security": "starttls",
        "smtp_username": USERNAME,
        "smtp_password": PASSWORD,
        "smtp_from_domains": "",
        "smtp_from_address": "",
    }
    saved = browser.post("/settings/email/smtp/", form, follow=True)
    assert saved.status_code == 200 and b"SMTP settings saved." in saved.content
    page = browser.get("/settings/email/").content.decode()
    assert PASSWORD not in page and "leave blank to keep it" in page
    # saved again with the password left blank: the stored one stays
    browser.post("/settings/email/smtp/", {**form, "smtp_password": ""})
    with schema_context(org.schema_name):
        assert unseal(MailSettings.objects.get().smtp_password_secret) == PASSWORD
    tested = browser.post("/settings/email/smtp-test/", {"to": "ops@acme.test"}, follow=True)
    assert b"Test message sent to ops@acme.test through 127.0.0.1." in tested.content
    assert len(org_smtp.messages) == 1
    browser.post("/settings/email/smtp/", {**form, "smtp_password": "wrong-password"})
    failed = browser.post("/settings/email/smtp-test/", {"to": "ops@acme.test"}, follow=True)
    assert b"refused the username or password" in failed.content and b"535" in failed.content
