"""Custom fields in CSV imports and exports: cells cleaned by the API's rules, the row failing alone with
the field named, updates merging values, revert restoring them, exports writing what an import reads back,
and one organization's fields never in another's files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.customfields import services as field_services
from tenant_apps.customfields import values
from tenant_apps.customfields.models import CustomField
from tenant_apps.imports.models import ImportRowError
from tenant_apps.leads.models import Lead
from tests.conftest import client_for
from tests.tenant_apps.imports.conftest import csv_rows, leads, revert, upload

SELECT = [{"label": "Hot"}, {"label": "Warm"}, {"label": "Cold"}]


@pytest.fixture(autouse=True)
def _forget() -> Any:
    values.forget()
    yield
    values.forget()


@pytest.fixture
def field(org: Organization, member: Callable[..., User]) -> Callable[..., CustomField]:
    admin = member(role=Role.ADMIN)

    def make(key: str, kind: str = "text", record_type: str = "lead", **data: Any) -> CustomField:
        with schema_context(org.schema_name):
            made = field_services.custom_field_create(
                actor=admin, record_type=record_type, key=key, type=kind, label=data.pop("label", key), **data
            )
        values.forget()
        return made

    return make


def with_custom(org: Organization, lead: Lead, custom: dict[str, Any]) -> Lead:
    with schema_context(org.schema_name):
        Lead.objects.filter(pk=lead.pk).update(custom=custom)
    return lead


def errors_of(run: Any) -> list[tuple[int, str, str]]:
    return list(
        ImportRowError.objects.filter(import_run=run)
        .order_by("row_number")
        .values_list("line", "code", "field")
    )


def test_custom_cells_are_stored_as_the_api_stores_them(imported, org, field, member):
    rep = member(role=Role.REP)
    temperature = field("temperature", "single_select", options=SELECT)
    channels = field("channels", "multi_select", options=[{"label": "Web"}, {"label": "Phone"}])
    field("seats", "number")
    field("budget", "money")
    field("renewal", "date")
    field("trial", "boolean")
    field("champion", "member")
    field("notes", "text")
    content = (
        "name,temperature,channels,seats,budget,renewal,trial,champion,notes\n"
        f"Jane,warm,Phone;Web,12.50,1200 USD,2027-01-31,yes,{rep.email.upper()},'=not a formula\n"
        "Bob,,,,,,,,\n"
    )
    with schema_context(org.schema_name):
        done = imported(content)
        assert (done.status, done.imported, done.failed) == ("done", 2, 0), errors_of(done)
    jane, bob = leads(org)
    _, warm, _ = (option["id"] for option in temperature.options)
    web, phone = (option["id"] for option in channels.options)
    assert jane["custom"] == {
        "temperature": warm,
        "channels": [web, phone],
        "seats": "12.5",
        "budget": {"amount": "1200.00", "currency": "USD"},
        "renewal": "2027-01-31",
        "trial": True,
        "champion": rep.pk,
        "notes": "=not a formula",
    }
    assert bob["custom"] == {}


@pytest.mark.parametrize(
    ("kind", "cell", "data"),
    [
        ("number", "twelve", {}),
        ("date", "2027-02-30", {}),
        ("boolean", "maybe", {}),
        ("single_select", "Scorching", {"options": SELECT}),
        ("email", "not-an-address", {}),
        ("url", "ftp://example.com", {}),
        ("money", "12 XYZ", {}),
        ("member", "nobody@example.com", {}),
    ],
)
def test_a_bad_custom_cell_fails_its_row_alone_naming_the_field(imported, org, field, kind, cell, data):
    field("extra", kind, **data)
    content = f"name,extra\nGood,\nBad,{cell}\n"
    with schema_context(org.schema_name):
        done = imported(content)
        assert (done.imported, done.failed) == (1, 1)
        assert errors_of(done) == [(3, "invalid_custom_value", "custom.extra")]
    assert [lead["name"] for lead in leads(org)] == ["Good"]


def test_a_required_custom_field_must_be_mapped_and_given(client, imported, org, field):
    field("region", "text", required=True)
    response = upload(client, "name\nJane\n")
    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["errors"])) == ("required", ["mapping"])
    assert "custom.region" in str(response.json()["errors"]["mapping"])
    with schema_context(org.schema_name):
        done = imported("name,region\nJane,North\nBob,\n")
        assert errors_of(done) == [(3, "required", "custom.region")]


def test_an_explicit_mapping_names_custom_fields_and_unknown_keys_are_refused(client, imported, org, field):
    field("region")
    response = upload(client, "name,Where\nJane,North\n", mapping={"name": "name", "Where": "custom.nope"})
    assert response.status_code == 400
    assert "custom.nope" in str(response.json()["errors"]["mapping"])
    with schema_context(org.schema_name):
        done = imported("name,Where\nJane,North\n", mapping={"name": "name", "Where": "custom.region"})
        assert done.imported == 1
    assert leads(org)[0]["custom"] == {"region": "North"}


def test_an_update_merges_the_given_values_and_a_revert_restores_them(
    client, imported, org, field, make_lead
):
    field("region")
    field("seats", "number")
    lead = with_custom(
        org, make_lead(name="Jane", email="jane@example.com"), {"region": "South", "seats": "3"}
    )
    with schema_context(org.schema_name):
        done = imported("name,email,seats\nJane,jane@example.com,40\n", duplicate_policy="update")
        assert done.updated == 1
    [updated] = leads(org)
    assert updated["custom"] == {"region": "South", "seats": "40"}
    assert client.post(f"/api/imports/{done.pk}/revert/").status_code == 202
    revert(org, done.pk)
    with schema_context(org.schema_name):
        lead.refresh_from_db()
        assert lead.custom == {"region": "South", "seats": "3"}


def test_exports_write_custom_values_that_import_back_the_same(
    api, client, imported, org, field, make_lead, member
):
    rep = member(role=Role.REP)
    temperature = field("temperature", "single_select", options=SELECT)
    channels = field("channels", "multi_select", options=[{"label": "Web"}, {"label": "Phone"}])
    field("budget", "money")
    field("champion", "member")
    field("motto", "text")
    hot = temperature.options[0]["id"]
    web, phone = (option["id"] for option in channels.options)
    stored = {
        "temperature": hot,
        "channels": [web, phone],
        "budget": {"amount": "99.50", "currency": "USD"},
        "champion": rep.pk,
        "motto": "=1+1",
    }
    with_custom(org, make_lead(name="Jane", email="jane@example.com"), stored)
    [row] = csv_rows(api(Role.ADMIN).get("/api/exports/leads.csv"))
    assert {key: value for key, value in row.items() if key.startswith("custom.")} == {
        "custom.temperature": "Hot",
        "custom.channels": "Web;Phone",
        "custom.budget": "99.50 USD",
        "custom.champion": rep.email,
        "custom.motto": "'=1+1",  # formula-escaped, and unescaped again on import
    }
    header = ",".join(row)
    line = ",".join(value if "," not in value else f'"{value}"' for value in row.values())
    with schema_context(org.schema_name):
        done = imported(f"{header}\n{line.replace('jane@example.com', 'jane2@example.com')}\n")
        assert done.imported == 1, errors_of(done)
    copy = next(lead for lead in leads(org) if lead["email"] == "jane2@example.com")
    assert copy["custom"] == stored


def test_another_organizations_fields_are_not_in_its_exports_or_imports(field, other_org, member, make_lead):
    field("secret_code")
    admin = member(role=Role.ADMIN, organization=other_org)
    other = client_for(other_org, admin)
    make_lead(name="Theirs", organization=other_org)
    [row] = csv_rows(other.get("/api/exports/leads.csv"))
    assert not [key for key in row if key.startswith("custom.")]
    response = upload(other, "name,x\nJane,1\n", mapping={"name": "name", "x": "custom.secret_code"})
    assert response.status_code == 400
