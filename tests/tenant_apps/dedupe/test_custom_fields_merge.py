"""Custom fields in merges: a `custom.<key>` may be chosen like any field, a blank on the survivor takes a
merged record's value, and an unknown key (or another organization's field) is a 400 naming it."""

from __future__ import annotations

from typing import Any

import pytest

from shared_apps.users.models import Role
from tenant_apps.customfields import services as field_services
from tenant_apps.customfields import values
from tenant_apps.leads.models import Lead
from tests.conftest import client_for


@pytest.fixture(autouse=True)
def _forget() -> Any:
    values.forget()
    yield
    values.forget()


def with_custom(lead: Lead, custom: dict[str, Any]) -> Lead:
    Lead.objects.filter(pk=lead.pk).update(custom=custom)
    return lead


def test_custom_values_are_chosen_filled_in_and_listed_in_the_changes(org, in_org, admin, member, make_lead):
    for key in ("region", "segment", "motto"):
        field_services.custom_field_create(actor=admin, record_type="lead", key=key, type="text", label=key)
    values.forget()
    survivor = with_custom(make_lead(name="Jane"), {"region": "North", "motto": "Keep"})
    other = with_custom(make_lead(name="Jane D."), {"region": "South", "segment": "SMB", "motto": "Other"})
    response = client_for(org, member(role=Role.MANAGER)).post(
        "/api/leads/merge/",
        {"survivor": survivor.pk, "merged": [other.pk], "fields": {"custom.region": other.pk}},
        format="json",
    )
    assert response.status_code == 200, response.content
    merged = Lead.objects.get(pk=survivor.pk)
    # chosen: the other's region; blank on the survivor: the other's segment; unchosen and set: kept
    assert merged.custom == {"region": "South", "segment": "SMB", "motto": "Keep"}
    changes = response.json()["activity"]["metadata"]["changes"]
    assert changes["custom.region"] == ["North", "South"]
    assert changes["custom.segment"] == [None, "SMB"]
    assert "custom.motto" not in changes


def test_choosing_a_record_without_the_value_clears_it(org, in_org, admin, member, make_lead):
    field_services.custom_field_create(actor=admin, record_type="lead", key="region", type="text", label="R")
    values.forget()
    survivor = with_custom(make_lead(name="Jane"), {"region": "North"})
    other = make_lead(name="Jane D.")
    response = client_for(org, admin).post(
        "/api/leads/merge/",
        {"survivor": survivor.pk, "merged": [other.pk], "fields": {"custom.region": other.pk}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert Lead.objects.get(pk=survivor.pk).custom == {}


def test_an_unknown_custom_field_is_refused_naming_it(org, other_org, member, make_lead):
    other_admin = member(role=Role.ADMIN, organization=other_org)
    from django_tenants.utils import schema_context

    with schema_context(other_org.schema_name):
        field_services.custom_field_create(
            actor=other_admin, record_type="lead", key="secret", type="text", label="S"
        )
    values.forget()
    first, second = make_lead(name="A"), make_lead(name="B")
    response = client_for(org, member(role=Role.ADMIN)).post(
        "/api/leads/merge/",
        {"survivor": first.pk, "merged": [second.pk], "fields": {"custom.secret": second.pk}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_field"
