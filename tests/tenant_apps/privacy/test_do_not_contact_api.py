"""/api/do-not-contact/: admins list, add and remove manual entries; the list stops record creation."""

from __future__ import annotations

from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from tenant_apps.privacy.models import DoNotContact
from tenant_apps.privacy.services import is_suppressed, suppress
from tests.tenant_apps.privacy.conftest import post


def test_admins_add_list_and_remove_manual_entries(org, admin_client):
    entry = post(admin_client, "/api/do-not-contact/", {"email": " Pat@Example.TEST "})
    assert (entry["email"], entry["reason"]) == ("pat@example.test", "manual")
    with schema_context(org.schema_name):
        assert is_suppressed("PAT@example.test ") and not is_suppressed("other@example.test")
        suppress("gone@example.test", "bounced")
    listed = admin_client.get("/api/do-not-contact/").json()["results"]
    assert [row["email"] for row in listed] == ["gone@example.test", "pat@example.test"]
    bounced = admin_client.get("/api/do-not-contact/", {"reason": "bounced"}).json()["results"]
    assert [row["email"] for row in bounced] == ["gone@example.test"]
    again = admin_client.post("/api/do-not-contact/", {"email": "pat@example.test"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_on_do_not_contact_list"
    assert admin_client.delete(f"/api/do-not-contact/{entry['id']}/").status_code == 204
    with schema_context(org.schema_name):
        assert not is_suppressed("pat@example.test")
        actions = list(
            AuditEvent.objects.filter(action__startswith="do_not_contact.")
            .order_by("id")
            .values_list("action", flat=True)
        )
    assert actions == ["do_not_contact.added", "do_not_contact.removed"]


def test_an_entry_the_person_caused_cannot_be_removed_by_hand(org, admin_client):
    with schema_context(org.schema_name):
        entry = suppress("gone@example.test", "unsubscribed")
    response = admin_client.delete(f"/api/do-not-contact/{entry.pk}/")
    assert response.status_code == 409 and response.json()["code"] == "do_not_contact_kept"
    assert admin_client.delete("/api/do-not-contact/999999/").status_code == 404
    with schema_context(org.schema_name):
        assert DoNotContact.objects.filter(pk=entry.pk).exists()


def test_a_manual_entry_takes_the_reason_the_person_gives_later(org):
    with schema_context(org.schema_name):
        suppress("pat@example.test", "manual")
        suppress("pat@example.test", "unsubscribed")
        suppress("pat@example.test", "manual")
        assert DoNotContact.objects.get(email="pat@example.test").reason == "unsubscribed"


def test_a_bad_address_is_a_400_naming_the_field(admin_client):
    for body in ({}, {"email": "nope"}, {"email": ""}, {"email": ["a@b.test"]}):
        response = admin_client.post("/api/do-not-contact/", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert "email" in response.json()["errors"]


def test_reps_and_managers_cannot_read_or_change_the_list(org, rep_client, manager_client):
    with schema_context(org.schema_name):
        entry = suppress("pat@example.test", "manual")
    for client in (rep_client, manager_client):
        assert client.get("/api/do-not-contact/").status_code == 403
        assert client.post("/api/do-not-contact/", {"email": "x@y.test"}, format="json").status_code == 403
        assert client.delete(f"/api/do-not-contact/{entry.pk}/").status_code == 403


def test_creating_a_lead_or_contact_with_a_listed_address_needs_a_conscious_override(org, admin_client):
    with schema_context(org.schema_name):
        suppress("gone@example.test", "erased")
    for path in ("/api/leads/", "/api/contacts/"):
        refused = admin_client.post(path, {"name": "Back again", "email": "Gone@example.test"}, format="json")
        assert refused.status_code == 400, refused.content
        assert refused.json()["code"] == "do_not_contact"
        assert refused.json()["details"] == {"reason": "erased"} and "email" in refused.json()["errors"]
        created = post(
            admin_client,
            path,
            {"name": "Back again", "email": "gone@example.test", "allow_do_not_contact": True},
        )
        assert created["email"] == "gone@example.test"
    # moving a record onto a listed address is refused alike
    other = post(admin_client, "/api/leads/", {"name": "Someone", "email": "someone@example.test"})
    moved = admin_client.patch(f"/api/leads/{other['id']}/", {"email": "gone@example.test"}, format="json")
    assert moved.status_code == 400 and moved.json()["code"] == "do_not_contact"
    with schema_context(org.schema_name):
        assert is_suppressed("gone@example.test")  # the address stays listed
