"""Custom values are searched with the record (shared_apps.core.search.record_vector), ranked after its own
fields, and never across organizations."""

from __future__ import annotations

from typing import Any

import pytest
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.accounts.services import account_create
from tenant_apps.customfields import services as field_services
from tenant_apps.customfields import values


@pytest.fixture(autouse=True)
def _forget() -> Any:
    values.forget()
    yield
    values.forget()


def found(client: Any, query: str) -> list[tuple[str, str]]:
    response = client.get("/api/search/", {"q": query})
    assert response.status_code == 200, response.content
    return [(row["type"], row["title"]) for row in response.json()["results"]]


def test_a_records_custom_text_finds_it_after_records_named_so(api, org, admin, make_lead):
    with schema_context(org.schema_name):
        field_services.custom_field_create(
            actor=admin, record_type="lead", key="codename", type="text", label="C"
        )
        field_services.custom_field_create(
            actor=admin, record_type="account", key="notes", type="long_text", label="N"
        )
    values.forget()
    client = api(Role.ADMIN)
    lead = make_lead(name="Jane Doe")
    assert (
        client.patch(
            f"/api/leads/{lead.pk}/", {"custom": {"codename": "Bluebird"}}, format="json"
        ).status_code
        == 200
    )
    with schema_context(org.schema_name):
        account = account_create(actor=admin, name="Northwind")
    response = client.patch(
        f"/api/accounts/{account.pk}/", {"custom": {"notes": "met at bluebird expo"}}, format="json"
    )
    assert response.status_code == 200, response.content
    make_lead(name="Bluebird Travel")
    results = found(client, "bluebird")
    assert results[0] == ("lead", "Bluebird Travel")  # its own name ranks first
    assert {("lead", "Jane Doe"), ("account", "Northwind")} <= set(results)


def test_another_organizations_custom_values_are_not_found(api, other_org, member, make_lead):
    other_admin = member(role=Role.ADMIN, organization=other_org)
    with schema_context(other_org.schema_name):
        field_services.custom_field_create(
            actor=other_admin, record_type="lead", key="codename", type="text", label="C"
        )
        values.forget()
        lead = make_lead(name="Theirs", organization=other_org)
        from tenant_apps.leads.models import Lead

        Lead.objects.filter(pk=lead.pk).update(custom={"codename": "kestrel"})
    values.forget()
    assert found(api(Role.ADMIN), "kestrel") == []
