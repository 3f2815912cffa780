"""One organization's fields never appear in another's API, OpenAPI schema or webhooks; the schema of an
organization's host shows its own fields in the record schemas."""

from __future__ import annotations

from django_tenants.utils import schema_context

from shared_apps.core import events
from shared_apps.users.models import Role
from tenant_apps.customfields.models import CustomField
from tenant_apps.webhooks.outbox import webhook_event_of
from tests.conftest import client_for

URL = "/api/custom-fields/"


def _define(client, **body):
    body = {"record_type": "lead", "type": "text", "label": body["key"].title(), **body}
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _schema(organization):
    response = client_for(organization).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_shows_this_organizations_fields_only(org, other_org, api):
    acme, globex = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)
    _define(acme, key="acme_region")
    _define(acme, key="acme_tier", type="single_select", options=["Gold"])
    _define(acme, key="acme_budget", type="money", record_type="opportunity")
    _define(globex, key="globex_only", type="number")
    schema = _schema(org)["components"]["schemas"]
    lead = schema["Lead"]["properties"]["custom"]
    assert set(lead["properties"]) == {"acme_region", "acme_tier"}
    assert lead["properties"]["acme_tier"]["enum"] == [
        option["id"] for option in acme.get(URL).json()[1]["options"]
    ]
    assert "x-custom-fields" not in lead
    assert set(schema["Opportunity"]["properties"]["custom"]["properties"]) == {"acme_budget"}
    money = schema["Opportunity"]["properties"]["custom"]["properties"]["acme_budget"]
    assert money["properties"]["currency"]["enum"] == ["USD"]
    # the request schemas (create, update) too
    assert set(schema["LeadCreateRequest"]["properties"]["custom"]["properties"]) == {
        "acme_region",
        "acme_tier",
    }
    assert set(schema["Contact"]["properties"]["custom"]["properties"]) == set()
    other = _schema(other_org)["components"]["schemas"]
    assert set(other["Lead"]["properties"]["custom"]["properties"]) == {"globex_only"}
    assert "acme_region" not in str(other) and "acme_budget" not in str(other)


def test_one_organizations_fields_never_reach_another(org, other_org, api):
    acme, globex = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)
    field = _define(acme, key="secret_field")
    assert globex.get(URL).json() == []
    assert (
        globex.get(f"{URL}{field['id']}/").status_code == 404
        or globex.get(f"{URL}{field['id']}/").json()["key"] != "secret_field"
    )
    # globex's leads know no such field, to write or to filter
    bad = globex.post("/api/leads/", {"name": "X", "custom": {"secret_field": "x"}}, format="json")
    assert bad.status_code == 400 and "custom.secret_field" in bad.json()["errors"]
    assert globex.get("/api/leads/?custom.secret_field=x").status_code == 400
    with schema_context(other_org.schema_name):
        assert not CustomField.objects.filter(key="secret_field").exists()


def test_webhook_payloads_carry_only_the_organizations_own_values(org, other_org, api):
    acme, globex = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)
    _define(acme, key="region")
    _define(globex, key="segment")
    seen = []
    unsubscribe = events.subscribe_in_transaction("lead.created", seen.append)
    try:
        acme.post("/api/leads/", {"name": "A", "custom": {"region": "EU"}}, format="json")
        globex.post("/api/leads/", {"name": "G", "custom": {"segment": "smb"}}, format="json")
    finally:
        unsubscribe()
    payloads = {event.schema_name: webhook_event_of(event)[2] for event in seen}
    assert payloads[org.schema_name]["custom"] == {"region": "EU"}
    assert payloads[other_org.schema_name]["custom"] == {"segment": "smb"}
