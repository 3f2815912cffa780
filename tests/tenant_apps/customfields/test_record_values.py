"""Values read and written as "custom" on leads, contacts, accounts and deals: create, PATCH, list, detail;
400 naming custom.<key>; required on create; events (webhooks, SSE) carry them."""

from __future__ import annotations

import pytest

from shared_apps.core import events
from shared_apps.users.models import Role
from tenant_apps.webhooks.outbox import webhook_event_of

URL = "/api/custom-fields/"


@pytest.fixture
def admin_client(api):
    return api(Role.ADMIN)


def _define(client, **body):
    body = {"record_type": "lead", "type": "text", "label": body["key"].title(), **body}
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _account(client, **extra):
    response = client.post("/api/accounts/", {"name": "Initech", **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


CREATES = {
    "lead": ("/api/leads/", lambda client: {"name": "Jane"}),
    "contact": ("/api/contacts/", lambda client: {"name": "John"}),
    "account": ("/api/accounts/", lambda client: {"name": "Initech"}),
    "opportunity": (
        "/api/opportunities/",
        lambda client: {"name": "Deal", "account": _account(client)["id"]},
    ),
}


@pytest.mark.parametrize("record_type", list(CREATES))
def test_every_record_type_reads_and_writes_its_custom_values(org, admin_client, record_type):
    _define(admin_client, key="region", record_type=record_type)
    _define(admin_client, key="size", type="number", record_type=record_type)
    path, body = CREATES[record_type]
    made = admin_client.post(
        path, {**body(admin_client), "custom": {"region": "EMEA", "size": 12}}, format="json"
    )
    assert made.status_code == 201, made.content
    assert made.json()["custom"] == {"region": "EMEA", "size": "12"}
    detail = f"{path}{made.json()['id']}/"
    patched = admin_client.patch(detail, {"custom": {"size": "13.5"}}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["custom"] == {"region": "EMEA", "size": "13.5"}  # only the keys sent change
    cleared = admin_client.patch(detail, {"custom": {"region": None}}, format="json")
    assert cleared.json()["custom"] == {"size": "13.5"}
    assert admin_client.get(detail).json()["custom"] == {"size": "13.5"}
    listed = admin_client.get(path).json()["results"]
    assert [row["custom"] for row in listed if row["id"] == made.json()["id"]] == [{"size": "13.5"}]
    bad = admin_client.patch(detail, {"custom": {"size": "big"}}, format="json")
    assert bad.status_code == 400
    assert "custom.size" in bad.json()["errors"]


def test_bad_values_are_400_naming_the_field_and_change_nothing(org, admin_client):
    _define(admin_client, key="renewal", type="date")
    for custom, field in [
        ({"renewal": "tomorrow"}, "custom.renewal"),
        ({"nope": 1}, "custom.nope"),
        ("renewal", "custom"),
    ]:
        response = admin_client.post("/api/leads/", {"name": "X", "custom": custom}, format="json")
        assert response.status_code == 400, (custom, response.content)
        assert field in response.json()["errors"]
    assert admin_client.get("/api/leads/").json()["results"] == []


def test_required_fields_are_enforced_on_create_only(org, admin_client):
    lead = admin_client.post("/api/leads/", {"name": "Before"}, format="json").json()
    _define(admin_client, key="region", required=True)
    refused = admin_client.post("/api/leads/", {"name": "X"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"custom.region": ["Region is required."]}
    assert (
        admin_client.post("/api/leads/", {"name": "X", "custom": {"region": "EU"}}, format="json").status_code
        == 201
    )
    # a record made before the field became required is still editable without it...
    assert (
        admin_client.patch(f"/api/leads/{lead['id']}/", {"name": "Renamed"}, format="json").status_code == 200
    )
    # ...but a value, once there, cannot be cleared
    admin_client.patch(f"/api/leads/{lead['id']}/", {"custom": {"region": "EU"}}, format="json")
    cleared = admin_client.patch(f"/api/leads/{lead['id']}/", {"custom": {"region": None}}, format="json")
    assert cleared.status_code == 400


def test_member_values_name_a_member_of_this_organization(org, other_org, admin_client, member):
    _define(admin_client, key="reviewer", type="member")
    rep = member(role=Role.REP)
    made = admin_client.post("/api/leads/", {"name": "X", "custom": {"reviewer": rep.pk}}, format="json")
    assert made.json()["custom"] == {"reviewer": rep.pk}
    bad = admin_client.post("/api/leads/", {"name": "X", "custom": {"reviewer": 10**9}}, format="json")
    assert bad.status_code == 400 and "custom.reviewer" in bad.json()["errors"]


def test_events_carry_custom_values_and_their_changes(org, admin_client):
    """Webhook payloads and SSE events are built from the domain events: they carry `custom`."""
    _define(admin_client, key="region")
    seen = []
    unsubscribe = events.subscribe_in_transaction("lead.", seen.append)
    try:
        made = admin_client.post(
            "/api/leads/", {"name": "X", "custom": {"region": "EU"}}, format="json"
        ).json()
        admin_client.patch(f"/api/leads/{made['id']}/", {"custom": {"region": "US"}}, format="json")
    finally:
        unsubscribe()
    created = next(event for event in seen if event.topic == "lead.created")
    updated = next(event for event in seen if event.topic == "lead.updated")
    assert created.data["custom"] == {"region": "EU"}
    assert updated.data["changes"] == {"custom.region": ["EU", "US"]}
    assert updated.data["fields"] == ["custom.region"]
    assert updated.data["custom"] == {"region": "US"}
    _type, _record, payload = webhook_event_of(updated)
    assert payload["custom"] == {"region": "US"}
    assert payload["changes"] == {"custom.region": ["EU", "US"]}
