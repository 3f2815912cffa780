"""Sequences leave listed addresses alone: no enrolment (400 naming the lead), no send (stopped), and an
erasure stops the person's running enrolments."""

from __future__ import annotations

from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.privacy.services import suppress
from tenant_apps.sequences import services
from tenant_apps.sequences.jobs import send_due_sequence_steps
from tenant_apps.sequences.models import Enrollment


def test_a_listed_lead_is_not_enrolled_by_hand(api, org, make_sequence, make_lead):
    sequence = make_sequence()
    lead = make_lead(name="Pat Listed", email="pat@customer.test")
    with schema_context(org.schema_name):
        suppress("pat@customer.test", "unsubscribed")
    response = api(Role.MANAGER).post(
        f"/api/sequences/{sequence.pk}/enroll/", {"lead": lead.pk}, format="json"
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "do_not_contact" and "lead" in body["errors"]
    assert body["details"] == {"reason": "unsubscribed"}
    with schema_context(org.schema_name):
        assert not Enrollment.objects.exists()


def test_a_lead_listed_after_enrolling_gets_nothing_and_the_enrolment_stops(
    org, admin, smtp, make_sequence, make_lead
):
    sequence = make_sequence()
    lead = make_lead(name="Pat Listed", email="pat@customer.test")
    with schema_context(org.schema_name):
        enrollment = services.sequence_enroll(sequence_id=sequence.pk, lead_id=lead.pk, actor=admin)
        suppress("PAT@customer.test", "bounced")
        assert send_due_sequence_steps(now=enrollment.enrolled_at) == {"stopped": 1}
        enrollment.refresh_from_db()
    assert smtp.messages == []
    assert (enrollment.status, enrollment.stop_reason) == ("stopped", "do_not_contact")
    assert enrollment.stop_details == {"reason": "bounced"}


def test_erasing_a_person_stops_their_enrolments(api, org, admin, make_sequence, make_lead):
    sequence = make_sequence()
    lead = make_lead(name="Pat Erased", email="pat@customer.test")
    with schema_context(org.schema_name):
        enrollment = services.sequence_enroll(sequence_id=sequence.pk, lead_id=lead.pk, actor=admin)
    response = api(Role.ADMIN).post("/api/privacy/erase/", {"email": "pat@customer.test"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["enrollments_stopped"] == 1
    with schema_context(org.schema_name):
        enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.stop_reason) == ("stopped", "do_not_contact")
