"""The email settings page: every member sees the inbound address; admins change the setting."""

from __future__ import annotations

from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.mail.models import MailSettings
from tenant_apps.mail.selectors import inbound_address


def test_every_member_sees_the_inbound_address(org, web):
    with schema_context(org.schema_name):
        address = inbound_address()
    for role in (Role.VIEWER, Role.REP, Role.ADMIN):
        page = web(role).get("/settings/email/")
        assert page.status_code == 200
        assert address in page.content.decode()
        assert ('name="create_leads_from_unknown"' in page.content.decode()) == (role == Role.ADMIN)


def test_admins_turn_on_leads_from_unknown_senders_and_others_are_refused(org, web):
    refused = web(Role.MANAGER).post(
        "/settings/email/save/", {"create_leads_from_unknown": "on"}, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert refused.status_code == 403
    saved = web(Role.ADMIN).post("/settings/email/save/", {"create_leads_from_unknown": "on"})
    assert saved.status_code == 302 and saved["Location"] == "/settings/email/"
    with schema_context(org.schema_name):
        assert MailSettings.objects.get().create_leads_from_unknown is True
