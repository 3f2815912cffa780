"""Issue 16: one phone written differently is one number (E.164 with the organization's region), a change to
another record's email or phone is a duplicate as on create, and contacts refuse an identical email."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role
from tenant_apps.contacts.exceptions import DuplicateContact
from tenant_apps.contacts.models import Contact
from tenant_apps.contacts.services import contact_create, contact_update
from tenant_apps.dedupe.selectors import duplicates
from tenant_apps.leads.exceptions import DuplicateLead
from tenant_apps.leads.services import lead_update
from tenant_apps.records import normalize

WRITTEN = ["+1 (555) 010-7777", "15550107777", "(555) 010-7777", "555.010.7777"]


@pytest.mark.parametrize("written", WRITTEN)
def test_one_number_written_differently_is_one_e164_number(in_org, written) -> None:
    assert normalize.phone(written) == "+15550107777"


def test_a_number_without_country_code_takes_the_organizations_region(org) -> None:
    Organization.objects.filter(pk=org.pk).update(phone_region="GB")
    with schema_context(org.schema_name):
        assert normalize.phone("020 7946 0958") == "+442079460958"
        assert normalize.phone("+1 (555) 010-7777") == "+15550107777"


def test_a_number_too_short_for_the_region_keeps_its_digits(in_org) -> None:
    assert normalize.phone("555-0101") == "5550101"


def test_duplicate_suggestions_find_the_same_phone_written_differently(in_org, make_lead) -> None:
    leads = [
        make_lead(name=name, phone=written)
        for name, written in zip(
            ["Nancy Davolio", "Andrew Fuller", "Janet Leverling", "Robert King"], WRITTEN, strict=True
        )
    ]
    found = duplicates(record=leads[0])
    assert sorted(s.record.pk for s in found) == sorted(lead.pk for lead in leads[1:])
    assert all(s.reasons == ["phone"] for s in found)


def test_lead_create_refuses_the_same_phone_written_differently(api, in_org, make_lead) -> None:
    make_lead(name="Nancy", phone="+1 (555) 010-7777")
    response = api(Role.ADMIN).post(
        "/api/leads/", {"name": "Other", "phone": "(555) 010-7777"}, format="json"
    )
    assert response.status_code == 409, response.content
    assert response.json()["details"]["matched_on"] == "phone"


@pytest.mark.parametrize(
    ("field", "value"), [("email", "nancy@northwind.example"), ("phone", "555 010 7777")]
)
def test_a_lead_patch_to_another_leads_email_or_phone_is_a_duplicate(api, in_org, make_lead, field, value):
    make_lead(name="Nancy", email="nancy@northwind.example", phone="+1 555 010 7777")
    other = make_lead(name="Andrew", email="andrew@northwind.example")
    client = api(Role.ADMIN)

    response = client.patch(f"/api/leads/{other.pk}/", {field: value}, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "duplicate_lead"

    response = client.patch(f"/api/leads/{other.pk}/", {field: value, "allow_duplicate": True}, format="json")
    assert response.status_code == 200, response.content


def test_a_lead_patch_keeping_its_own_email_is_not_a_duplicate(in_org, make_lead, admin) -> None:
    lead = make_lead(name="Nancy", email="nancy@northwind.example")
    lead_update(lead_id=lead.pk, actor=admin, changes={"email": "NANCY@northwind.example", "name": "Nan"})
    with pytest.raises(DuplicateLead):
        lead_update(lead_id=make_lead(name="X").pk, actor=admin, changes={"email": "nancy@northwind.example"})


def test_contacts_with_an_identical_email_are_refused(api, in_org, admin) -> None:
    contact_create(actor=admin, name="Nancy Davolio", email="nancy@northwind.example")
    client = api(Role.ADMIN)
    payload = {"name": "N. Davolio", "email": "Nancy@Northwind.example"}

    response = client.post("/api/contacts/", payload, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "duplicate_contact"
    assert Contact.objects.filter(email="nancy@northwind.example").count() == 1

    response = client.post("/api/contacts/", {**payload, "allow_duplicate": True}, format="json")
    assert response.status_code == 201, response.content


def test_a_contact_change_to_another_contacts_phone_is_a_duplicate(in_org, admin) -> None:
    contact_create(actor=admin, name="Nancy", phone="+1 555 010 7777")
    other = contact_create(actor=admin, name="Andrew")
    with pytest.raises(DuplicateContact):
        contact_update(contact_id=other.pk, actor=admin, changes={"phone": "(555) 010-7777"})
    contact_update(
        contact_id=other.pk, actor=admin, changes={"phone": "(555) 010-7777"}, allow_duplicate=True
    )
