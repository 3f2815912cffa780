"""Contacts and accounts purge like leads: a deleted record goes for good, admins only, audited."""

from __future__ import annotations

from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import Activity, Note
from tenant_apps.contacts.models import Contact
from tests.conftest import client_for
from tests.tenant_apps.privacy.conftest import post


def test_a_deleted_contact_is_purged_with_its_notes_and_timeline(org, admin, admin_client):
    account = post(admin_client, "/api/accounts/", {"name": "Acme Widgets"})
    contact = post(admin_client, "/api/contacts/", {"name": "Pat", "account": account["id"]})
    post(admin_client, f"/api/contacts/{contact['id']}/notes/", {"body": "Pat's note"})
    live = admin_client.post(f"/api/contacts/{contact['id']}/purge/")
    assert live.status_code == 409 and live.json()["code"] == "contact_not_deleted"
    assert admin_client.delete(f"/api/contacts/{contact['id']}/").status_code == 204

    assert admin_client.post(f"/api/contacts/{contact['id']}/purge/").status_code == 204

    with schema_context(org.schema_name):
        assert not Contact.objects.filter(pk=contact["id"]).exists()
        assert not Note.objects.filter(contact_id=contact["id"]).exists()
        assert not Activity.objects.filter(contact_id=contact["id"]).exists()
        assert Account.objects.filter(pk=account["id"]).exists()
        event = AuditEvent.objects.get(action="contact.purged")
    assert (event.actor_id, event.target_type, event.target_id) == (
        admin.pk,
        "contacts.contact",
        str(contact["id"]),
    )
    assert admin_client.post(f"/api/contacts/{contact['id']}/purge/").status_code == 404


def test_a_deleted_account_is_purged_and_its_contacts_keep_their_timelines(org, admin_client):
    account = post(admin_client, "/api/accounts/", {"name": "Acme Widgets"})
    contact = post(admin_client, "/api/contacts/", {"name": "Pat", "account": account["id"]})
    post(admin_client, f"/api/contacts/{contact['id']}/activities/", {"type": "CALL", "subject": "Call"})
    post(admin_client, f"/api/accounts/{account['id']}/notes/", {"body": "Account note"})
    with schema_context(org.schema_name):
        contact_timeline = set(Activity.objects.filter(contact_id=contact["id"]).values_list("id", flat=True))
    assert admin_client.delete(f"/api/accounts/{account['id']}/").status_code == 204

    assert admin_client.post(f"/api/accounts/{account['id']}/purge/").status_code == 204

    with schema_context(org.schema_name):
        assert not Account.objects.filter(pk=account["id"]).exists()
        assert not Note.objects.filter(account_id=account["id"]).exists()
        assert not Activity.objects.filter(account_id=account["id"]).exists()
        assert Contact.objects.get(pk=contact["id"]).account_id is None
        kept = set(Activity.objects.filter(contact_id=contact["id"]).values_list("id", flat=True))
        assert kept == contact_timeline
        assert AuditEvent.objects.filter(action="account.purged", target_id=str(account["id"])).exists()


def test_an_account_with_deals_is_not_purged(org, admin_client):
    account = post(admin_client, "/api/accounts/", {"name": "Acme Widgets"})
    post(admin_client, "/api/opportunities/", {"name": "Deal", "account": account["id"]})
    assert admin_client.delete(f"/api/accounts/{account['id']}/").status_code == 204
    response = admin_client.post(f"/api/accounts/{account['id']}/purge/")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "account_has_deals" and response.json()["details"]["deals"] == 1
    with schema_context(org.schema_name):
        assert Account.objects.filter(pk=account["id"]).exists()
        assert not AuditEvent.objects.filter(action="account.purged").exists()


def test_only_admins_purge(org, member, admin_client):
    account = post(admin_client, "/api/accounts/", {"name": "Acme Widgets"})
    contact = post(admin_client, "/api/contacts/", {"name": "Pat"})
    admin_client.delete(f"/api/accounts/{account['id']}/")
    admin_client.delete(f"/api/contacts/{contact['id']}/")
    for role in (Role.MANAGER, Role.REP, Role.VIEWER):
        client = client_for(org, member(role=role))
        assert client.post(f"/api/accounts/{account['id']}/purge/").status_code == 403
        assert client.post(f"/api/contacts/{contact['id']}/purge/").status_code == 403
    with schema_context(org.schema_name):
        assert Account.objects.filter(pk=account["id"]).exists()
        assert Contact.objects.filter(pk=contact["id"]).exists()
