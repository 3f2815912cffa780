import pytest
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.leads.models import Lead
from tests.conftest import client_for


def test_create_normalizes_and_writes_the_created_activity(api, org, member):
    owner = member(role=Role.REP)
    response = api(Role.MANAGER).post(
        "/api/leads/",
        {
            "name": "  Jane Doe ",
            "email": "Jane.Doe@Example.COM",
            "phone": "+1 (555) 010-9999",
            "company": "Initech",
            "source": "referral",
            "value": "12500.50",
            "owner": owner.pk,
            "tags": ["VIP", " enterprise  deal", "vip"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["email"], body["phone"], body["stage"]) == (
        "Jane Doe",
        "jane.doe@example.com",
        "+1 (555) 010-9999",
        "NEW",
    )
    assert (body["value"], body["currency"], body["owner"]["id"]) == (
        "12500.50",
        org.default_currency,
        owner.pk,
    )
    assert body["tags"] == ["vip", "enterprise deal"]
    assert body["allowed_transitions"] == ["CONTACTED", "LOST"]
    with schema_context(org.schema_name):
        lead = Lead.objects.get(pk=body["id"])
        assert lead.phone_normalized == "+15550109999"
        [created] = Activity.objects.filter(lead=lead)
        assert created.type == ActivityType.CREATED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 123}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul\x00byte"}, "name"),
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "A", "email": ["a@b.co"]}, "email"),
        ({"name": "A", "phone": "call me maybe"}, "phone"),
        ({"name": "A", "phone": "12"}, "phone"),
        ({"name": "A", "source": "SPAM"}, "source"),
        ({"name": "A", "value": "-1"}, "value"),
        ({"name": "A", "value": "1e400"}, "value"),
        ({"name": "A", "value": "NaN"}, "value"),
        ({"name": "A", "value": "12345678901.00"}, "value"),
        ({"name": "A", "value": "1.234"}, "value"),
        ({"name": "A", "value": "ten"}, "value"),
        ({"name": "A", "currency": "XXX"}, "currency"),
        ({"name": "A", "owner": "abc"}, "owner"),
        ({"name": "A", "owner": 2**70}, "owner"),
        ({"name": "A", "owner": 999_999}, "owner"),
        ({"name": "A", "tags": "not-a-list"}, "tags"),
        ({"name": "A", "tags": [None]}, "tags[0]"),
        ({"name": "A", "tags": [str(i) for i in range(21)]}, "tags"),
        ({"name": "A", "score": 10**12}, "score"),
        ({"name": "A", "stage": "WON"}, "stage"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, org, body, field):
    response = api(Role.ADMIN).post("/api/leads/", body, format="json")
    assert response.status_code == 400, response.content
    if field is not None:
        assert field in response.json()["errors"], response.json()
    with schema_context(org.schema_name):
        assert not Lead.objects.exists()


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", '"a string"', "null"])
def test_malformed_bodies_are_400(api, payload):
    response = api(Role.ADMIN).post("/api/leads/", data=payload, content_type="application/json")
    assert response.status_code == 400


def test_owner_must_be_an_active_member(api, org, member):
    former = member(role=Role.REP)
    with schema_context(org.schema_name):
        former.is_active = False
        former.save(update_fields=["is_active"])
    response = api(Role.ADMIN).post("/api/leads/", {"name": "A", "owner": former.pk}, format="json")
    assert (response.status_code, response.json()["errors"]["owner"]) == (
        400,
        ["Not an active member of this organization."],
    )


@pytest.mark.parametrize(
    ("first", "second", "matched_on"),
    [
        ({"email": "dup@example.com"}, {"email": " DUP@example.com"}, "email"),
        ({"phone": "+1 555 010 9999"}, {"phone": "+1-555-010-9999"}, "phone"),
        (
            {"company": "ACME, Inc.", "name": "Jane  Doe"},
            {"company": "acme", "name": "jane doe"},
            "company and name",
        ),
    ],
)
def test_duplicates_are_409_with_the_existing_id_unless_allowed(api, first, second, matched_on):
    client = api(Role.ADMIN)
    existing = client.post("/api/leads/", {"name": "Jane Doe", **first}, format="json").json()
    response = client.post("/api/leads/", {"name": "Someone", **second}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_lead"
    assert response.json()["details"] == {"existing_id": existing["id"], "matched_on": matched_on}

    forced = client.post("/api/leads/", {"name": "Someone", **second, "allow_duplicate": True}, format="json")
    assert forced.status_code == 201


def test_a_deleted_lead_is_not_a_duplicate(api, make_lead, org):
    lead = make_lead(email="gone@example.com")
    client = api(Role.ADMIN)
    assert client.delete(f"/api/leads/{lead.pk}/").status_code == 204
    assert (
        client.post("/api/leads/", {"name": "B", "email": "gone@example.com"}, format="json").status_code
        == 201
    )


def test_duplicate_detection_does_not_look_into_other_organizations(api, make_lead, other_org):
    make_lead(organization=other_org, email="shared@example.com")
    response = api(Role.ADMIN).post(
        "/api/leads/", {"name": "A", "email": "shared@example.com"}, format="json"
    )
    assert response.status_code == 201


def test_a_lead_created_without_an_owner_is_its_creators(org, member):
    rep = member(role=Role.REP)
    client = client_for(org, rep)
    response = client.post("/api/leads/", {"name": "Mine"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["owner"]["id"] == rep.pk
    # and so the rep sees the lead just made
    assert client.get(f"/api/leads/{body['id']}/").status_code == 200
    # an owner given, none included, is kept
    unowned = api_post(client_for(org, member(role=Role.MANAGER)), {"name": "Pool", "owner": None})
    assert unowned["owner"] is None


def api_post(client, data):
    response = client.post("/api/leads/", data, format="json")
    assert response.status_code == 201, response.json()
    return response.json()
