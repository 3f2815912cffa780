"""POST /api/privacy/erase/: the person's data redacted in place, the timeline kept, the address listed."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import DatabaseError, connection, transaction
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.core.timeline import timeline_switch
from tenant_apps.activities.models import Activity, Note
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.notifications.models import Notification
from tenant_apps.notifications.services import notify
from tenant_apps.privacy.models import DoNotContact
from tenant_apps.tasks.models import Task
from tests.tenant_apps.privacy.conftest import EMAIL, post, timeline

PERSONAL = ("jane", "quixotic", "zanzibar", "mornings", "tom", "+1555", "555 010")


def leaks(value: object) -> list[str]:
    text = json.dumps(value, default=str).lower()
    return [word for word in PERSONAL if word in text]


def search(client, query):
    response = client.get("/api/search/", {"q": query})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_erasure_redacts_the_person_everywhere_and_keeps_every_timeline_entry(org, jane, admin_client):
    before_lead = timeline(org, lead=jane.lead)
    before_contact = timeline(org, contact_id=jane.contact_id)
    before_bob = timeline(org, lead=jane.bob)
    assert leaks(before_lead) and leaks(before_contact)  # the checks below are not vacuous
    assert search(admin_client, "Quixotic") and search(admin_client, EMAIL)

    answer = post(admin_client, "/api/privacy/erase/", {"email": f"  {EMAIL.upper()} "}, status=200)

    assert answer["leads"] == 1 and answer["contacts"] == 1
    assert answer["email_sha256"] == hashlib.sha256(EMAIL.encode()).hexdigest()
    assert answer["do_not_contact"] == "erased"
    after_lead = timeline(org, lead=jane.lead)
    after_contact = timeline(org, contact_id=jane.contact_id)
    after_bob = timeline(org, lead=jane.bob)
    # the same entries, of the same kinds, by the same people, at the same moments: only what they said went
    for before, after in (
        (before_lead, after_lead),
        (before_contact, after_contact),
        (before_bob, after_bob),
    ):
        fixed = ("id", "type", "actor_id", "occurred_at", "created_at")
        assert [[row[key] for key in fixed] for row in after] == [
            [row[key] for key in fixed] for row in before
        ]
    assert not [row for row in after_lead + after_contact if leaks(row)]
    assert all(row["metadata"].get("redacted") for row in after_lead + after_contact)
    [bob_email] = [row for row in after_bob if row["id"] == jane.bob_email_id]
    assert not leaks(bob_email) and bob_email["metadata"]["redacted"]
    # Bob's own entries that do not name Jane are untouched
    untouched = [row for row in before_bob if row["id"] != jane.bob_email_id]
    assert untouched == [row for row in after_bob if row["id"] != jane.bob_email_id]
    with schema_context(org.schema_name):
        lead = Lead.objects.get(pk=jane.lead.pk)
        contact = Contact.objects.get(pk=jane.contact_id)
        assert (lead.name, lead.email, lead.phone, lead.company, lead.tags) == (
            "Erased person",
            "",
            "",
            "",
            [],
        )
        assert (contact.name, contact.email, contact.phone, contact.title) == ("Erased person", "", "", "")
        assert lead.stage == "CONTACTED"  # the pipeline facts stay
        notes = list(Note.objects.filter(lead=lead).values("body")) + list(
            Note.objects.filter(contact=contact).values("body")
        )
        tasks = list(Task.objects.filter(lead=lead).values("title", "description"))
        assert notes and tasks and not leaks(notes) and not leaks(tasks)
        assert DoNotContact.objects.get(email=EMAIL).reason == "erased"
    for query in ("Quixotic", EMAIL, "Zanzibar", "Jane Doe"):
        assert not leaks(search(admin_client, query)), query
    archive = post(admin_client, "/api/privacy/export/", {"email": EMAIL}, status=200)
    assert archive["leads"] == [] and archive["contacts"] == [] and archive["emails_elsewhere"] == []
    stays = admin_client.get(f"/api/leads/{jane.lead.pk}/stage-history/").json()
    assert [span["stage"] for span in stays] == ["NEW", "CONTACTED"]


def test_the_erasure_is_audited_with_a_digest_of_the_address_never_the_address(
    org, jane, admin_client, admin
):
    post(admin_client, "/api/privacy/erase/", {"email": EMAIL}, status=200)
    with schema_context(org.schema_name):
        event = AuditEvent.objects.get(action="privacy.erased")
    assert event.actor_id == admin.pk
    assert event.changes["email_sha256"] == hashlib.sha256(EMAIL.encode()).hexdigest()
    assert event.changes["leads"] == 1 and event.changes["contacts"] == 1
    assert "jane" not in json.dumps([event.changes, event.target_repr, event.target_id]).lower()


def test_erasing_again_or_an_unknown_address_finds_nothing_and_succeeds(org, jane, admin_client):
    post(admin_client, "/api/privacy/erase/", {"email": EMAIL}, status=200)
    again = post(admin_client, "/api/privacy/erase/", {"email": EMAIL}, status=200)
    assert again["leads"] == again["contacts"] == again["activities"] == 0
    unknown = post(admin_client, "/api/privacy/erase/", {"email": "nobody@nowhere.test"}, status=200)
    assert unknown["leads"] == unknown["contacts"] == 0
    with schema_context(org.schema_name):
        # an address nobody holds yet is still listed: nothing may bring the person in later
        assert DoNotContact.objects.filter(email="nobody@nowhere.test", reason="erased").exists()
        assert AuditEvent.objects.filter(action="privacy.erased").count() == 3


def test_another_organizations_same_person_is_untouched(org, other_org, jane, admin_client, make_lead):
    theirs = make_lead(name="Jane Doe", email=EMAIL, organization=other_org)
    post(admin_client, "/api/privacy/erase/", {"email": EMAIL}, status=200)
    with schema_context(other_org.schema_name):
        lead = Lead.objects.get(pk=theirs.pk)
        assert (lead.name, lead.email) == ("Jane Doe", EMAIL)
        assert "Jane" in Activity.objects.get(lead=lead).subject
        assert not DoNotContact.objects.exists()


@pytest.mark.parametrize("body", [{}, {"email": ""}, {"email": "not an address"}, {"email": 7}, {"x": 1}])
def test_a_bad_address_is_a_400_naming_the_field(admin_client, body):
    response = admin_client.post("/api/privacy/erase/", body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) & {"email", "x"}


@pytest.mark.parametrize("path", ["/api/privacy/erase/", "/api/privacy/export/"])
def test_reps_and_managers_cannot_make_privacy_requests(org, jane, rep_client, manager_client, path):
    for client in (rep_client, manager_client):
        response = client.post(path, {"email": EMAIL}, format="json")
        assert response.status_code == 403, response.content
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=jane.lead.pk).name == "Jane Doe"
        assert not AuditEvent.objects.filter(action__startswith="privacy.").exists()


def test_the_timeline_lets_redaction_change_only_what_was_said(org, jane):
    with schema_context(org.schema_name):
        activity = Activity.objects.filter(lead=jane.lead).first()
        assert activity is not None
        statements = [
            ("UPDATE activities_activity SET type = 'SYSTEM' WHERE id = %s", "type"),
            ("UPDATE activities_activity SET lead_id = %s WHERE id = %s", "anchor"),
            ("UPDATE activities_activity SET occurred_at = now() - interval '1 day' WHERE id = %s", "moment"),
        ]
        for sql, _what in statements:
            params = [jane.bob.pk, activity.pk] if sql.count("%s") == 2 else [activity.pk]
            refused = pytest.raises(DatabaseError, match="append-only")
            with refused, transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL leadpulse.redact = 'on'")
                cursor.execute(sql, params)
        # without the switch not even the body may change
        refused = pytest.raises(DatabaseError, match="append-only")
        with refused, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE activities_activity SET body = '' WHERE id = %s", [activity.pk])
        with transaction.atomic(), timeline_switch("redact"), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE activities_activity SET body = '', subject = 'x' WHERE id = %s", [activity.pk]
            )
        assert Activity.objects.get(pk=activity.pk).subject == "x"


def test_notifications_about_the_person_are_redacted(org, jane, admin_client, admin):
    with schema_context(org.schema_name):
        task = Task.objects.get(lead=jane.lead)
        mine = [
            notify(
                recipient=admin,
                kind="task.due",
                title=f"Task due: {task.title}",
                body="on lead Jane Doe",
                data={"task_id": task.pk, "record": {"type": "lead", "id": jane.lead.pk}},
            ),
            notify(
                recipient=admin, kind="automation.rule", title="Jane is hot", data={"lead_id": jane.lead.pk}
            ),
        ]
        other = notify(
            recipient=admin, kind="automation.rule", title="Bob is hot", data={"lead_id": jane.bob.pk}
        )
    answer = post(admin_client, "/api/privacy/erase/", {"email": EMAIL}, status=200)
    assert answer["notifications"] == 2
    with schema_context(org.schema_name):
        texts = list(Notification.objects.filter(pk__in=[n.pk for n in mine]).values("title", "body", "data"))
        assert len(texts) == 2 and not leaks(texts)
        assert Notification.objects.get(pk=other.pk).title == "Bob is hot"
