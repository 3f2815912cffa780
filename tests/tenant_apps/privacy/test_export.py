"""POST /api/privacy/export/: everything held about one person, as a JSON download, audited."""

from __future__ import annotations

import json

from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from tenant_apps.sequences import services as sequences
from tests.tenant_apps.privacy.conftest import EMAIL, post


def test_the_archive_holds_every_record_of_the_person_and_what_hangs_on_it(org, jane, admin_client, admin):
    with schema_context(org.schema_name):
        sequence = sequences.sequence_create(
            actor=admin, name="Outreach", steps=[{"subject": "Hello", "body": "Hi."}]
        )
        sequences.sequence_enroll(sequence_id=sequence.pk, lead_id=jane.lead.pk, actor=admin)

    response = admin_client.post("/api/privacy/export/", {"email": EMAIL.upper()}, format="json")

    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith('attachment; filename="privacy-export-')
    archive = response.json()
    assert archive["email"] == EMAIL and archive["organization"] == org.slug
    [lead] = archive["leads"]
    assert (lead["id"], lead["name"], lead["phone"], lead["company"]) == (
        jane.lead.pk,
        "Jane Doe",
        "+1 555 010 7777",
        "Zanzibar Widgets",
    )
    types = {activity["type"] for activity in lead["activities"]}
    assert {"CREATED", "STAGE_CHANGE", "CALL", "NOTE", "EMAIL", "TASK"} <= types or {
        "CREATED",
        "CALL",
        "EMAIL",
    } <= types
    assert [note["body"] for note in lead["notes"]] == ["Jane prefers mornings."]
    assert [task["title"] for task in lead["tasks"]] == ["Send Jane the quote"]
    [enrollment] = lead["sequence_enrollments"]
    assert enrollment["sequence_name"] == "Outreach" and enrollment["status"] == "active"
    [contact] = archive["contacts"]
    assert contact["id"] == jane.contact_id
    assert [deal["id"] for deal in contact["deals"]] == [jane.deal_id]
    assert {activity["type"] for activity in contact["activities"]} >= {"CREATED", "MEETING", "NOTE"}
    assert [note["body"] for note in contact["notes"]] == ["Jane's assistant is Tom."]
    # the email on Bob's timeline that copied Jane, and nothing else of Bob's
    assert [email["id"] for email in archive["emails_elsewhere"]] == [jane.bob_email_id]
    assert "search_vector" not in json.dumps(archive)
    assert archive["do_not_contact"] is None
    with schema_context(org.schema_name):
        event = AuditEvent.objects.get(action="privacy.exported")
    assert event.actor_id == admin.pk
    assert event.changes == {"email": EMAIL, "leads": 1, "contacts": 1}


def test_an_unknown_address_exports_an_empty_archive(admin_client):
    archive = post(admin_client, "/api/privacy/export/", {"email": "nobody@nowhere.test"}, status=200)
    assert archive["leads"] == archive["contacts"] == archive["emails_elsewhere"] == []


def test_another_organizations_same_person_is_not_exported(org, other_org, make_lead, admin_client):
    make_lead(name="Jane of Globex", email=EMAIL, organization=other_org)
    archive = post(admin_client, "/api/privacy/export/", {"email": EMAIL}, status=200)
    assert archive["leads"] == [] and "Globex" not in json.dumps(archive)
