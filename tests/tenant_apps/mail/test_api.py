"""The email settings API (the dropbox address) and attachment downloads, as members of each role."""

from __future__ import annotations

from email import policy

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role
from tenant_apps.mail.models import Attachment, MailSettings
from tests.conftest import client_for
from tests.tenant_apps.mail.inbound import email, process_raw

PDF = b"%PDF-1.4 quote\n%%EOF\n"


def test_every_member_sees_the_inbound_address(api):
    first = api(Role.VIEWER).get("/api/settings/email/")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["inbound_address"].startswith("acme-")
    assert body["inbound_address"].endswith(f"@{settings.INBOUND_DOMAIN}")
    assert body["create_leads_from_unknown"] is False
    assert body["max_message_bytes"] == settings.INBOUND_MAX_BYTES
    assert api(Role.REP).get("/api/settings/email/").json()["inbound_address"] == body["inbound_address"]


def test_each_organization_has_its_own_address(api, other_org):
    ours = api(Role.VIEWER).get("/api/settings/email/").json()["inbound_address"]
    theirs = api(Role.VIEWER, organization=other_org).get("/api/settings/email/").json()["inbound_address"]
    assert ours != theirs and theirs.startswith("globex-")


def test_only_admins_change_the_settings_and_bad_input_names_the_field(org, api):
    for role in (Role.MANAGER, Role.REP, Role.VIEWER):
        refused = api(role).patch("/api/settings/email/", {"create_leads_from_unknown": True}, format="json")
        assert refused.status_code == 403, role
    admin = api(Role.ADMIN)
    for body, field in (
        ({"create_leads_from_unknown": "perhaps"}, "create_leads_from_unknown"),
        ({"x": 1}, "x"),
    ):
        bad = admin.patch("/api/settings/email/", body, format="json")
        assert bad.status_code == 400 and field in bad.json()["errors"], bad.content
    changed = admin.patch("/api/settings/email/", {"create_leads_from_unknown": True}, format="json")
    assert changed.status_code == 200 and changed.json()["create_leads_from_unknown"] is True
    with schema_context(org.schema_name):
        assert MailSettings.objects.get().create_leads_from_unknown is True
        event = AuditEvent.objects.get(action="email_settings.updated")
        assert event.changes == {"create_leads_from_unknown": [False, True]}


@pytest.fixture
def attachment_on(org, make_lead):
    """attachment_on(lead, name, content_type, data): an email to the dropbox from the lead, with one file."""

    def make(lead, name="quote.pdf", content_type="application/pdf", data=PDF):
        message = email(
            sender=f"Jane <{lead.email}>",
            message_id=f"<with-file-{lead.pk}-{name}@customer.test>",
            attachments=[(name, content_type, data)],
        )
        process_raw(org, message.as_bytes(policy=policy.SMTP))
        with schema_context(org.schema_name):
            return Attachment.objects.get(activity__lead=lead, name=name)

    return make


def test_members_who_see_the_record_download_its_attachment(org, member, make_lead, attachment_on):
    owner = member(role=Role.REP)
    lead = make_lead(name="Jane", email="jane@customer.test", owner_id=owner.pk)
    attachment = attachment_on(lead)
    path = f"/api/attachments/{attachment.pk}/"
    for user in (owner, member(role=Role.VIEWER), member(role=Role.MANAGER)):
        response = client_for(org, user).get(path)
        assert response.status_code == 200, (user.role, response.content)
        assert response.content == PDF
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == 'attachment; filename="quote.pdf"'
    # another rep does not see the lead, so neither its email nor the file: like a missing one
    hidden = client_for(org, member(role=Role.REP)).get(path)
    assert hidden.status_code == 404 and hidden.json()["code"] == "attachment_not_found"
    missing = client_for(org, owner).get(f"/api/attachments/{attachment.pk + 1000}/")
    assert missing.status_code == 404 and missing.json()["code"] == "attachment_not_found"


def test_a_page_sent_as_an_attachment_is_downloaded_not_rendered(org, admin, make_lead, attachment_on):
    lead = make_lead(name="Jane", email="jane@customer.test")
    attachment = attachment_on(lead, name="page.html", content_type="text/html", data=b"<script>x</script>")
    response = client_for(org, admin).get(f"/api/attachments/{attachment.pk}/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_another_organizations_member_never_gets_the_file(org, other_org, api, make_lead, attachment_on):
    lead = make_lead(name="Jane", email="jane@customer.test")
    attachment = attachment_on(lead)
    response = api(Role.ADMIN, organization=other_org).get(f"/api/attachments/{attachment.pk}/")
    assert response.status_code == 404
