from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.opportunities.models import LostReason, Opportunity, PipelineStage
from tests.conftest import client_for


def names(response):
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def test_create_defaults_and_writes_created_on_the_opportunity_and_its_account(
    api, make_account, make_contact, member, org
):
    account = make_account(name="Initech")
    contact = make_contact(account=account, name="Bill")
    owner = member(role=Role.REP)
    response = api(Role.MANAGER).post(
        "/api/opportunities/",
        {
            "name": "Renewal",
            "account": account.pk,
            "primary_contact": contact.pk,
            "amount": "12500.50",
            "expected_close_date": "2026-03-31",
            "owner": owner.pk,
            "tags": ["Q1"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["stage"], body["probability"], body["currency"], body["amount"]) == (
        "QUALIFICATION",
        10,
        org.default_currency,
        "12500.50",
    )
    assert (body["account"], body["primary_contact"]) == (
        {"id": account.pk, "name": "Initech"},
        {"id": contact.pk, "name": "Bill"},
    )
    assert (body["expected_close_date"], body["is_closed"], body["closed_at"], body["tags"]) == (
        "2026-03-31",
        False,
        None,
        ["q1"],
    )
    with schema_context(org.schema_name):
        [created] = Activity.objects.filter(opportunity_id=body["id"])
        assert (created.type, created.account_id) == (ActivityType.CREATED, account.pk)


@pytest.mark.parametrize(("stage", "probability"), [("DISCOVERY", 25), ("PROPOSAL", 50), ("NEGOTIATION", 75)])
def test_probability_defaults_from_the_stage(api, make_account, stage, probability):
    account = make_account()
    client = api(Role.MANAGER)
    body = {"name": "D", "account": account.pk, "stage": stage}
    assert client.post("/api/opportunities/", body, format="json").json()["probability"] == probability
    given = client.post("/api/opportunities/", {**body, "probability": 5}, format="json").json()
    assert given["probability"] == 5


def test_the_primary_contact_is_of_the_account_or_of_none(api, make_account, make_contact, org):
    account, other = make_account(), make_account()
    unattached, elsewhere = make_contact(), make_contact(account=other)
    client = api(Role.MANAGER)
    ok = client.post(
        "/api/opportunities/",
        {"name": "D", "account": account.pk, "primary_contact": unattached.pk},
        format="json",
    )
    assert ok.status_code == 201
    for contact_id, code in ((elsewhere.pk, "contact_of_another_account"), (999_999_999, "unknown_contact")):
        response = client.post(
            "/api/opportunities/",
            {"name": "D", "account": account.pk, "primary_contact": contact_id},
            format="json",
        )
        assert (response.status_code, response.json()["code"]) == (400, code)
        assert "primary_contact" in response.json()["errors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"account": None}, "account"),
        ({"account": "abc"}, "account"),
        ({"account": 999_999_999}, "account"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "1e400"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"amount": "12345678901.00"}, "amount"),
        ({"currency": "XXX"}, "currency"),
        ({"probability": 101}, "probability"),
        ({"probability": -1}, "probability"),
        ({"probability": "high"}, "probability"),
        ({"probability": 50.5}, "probability"),
        ({"expected_close_date": "soon"}, "expected_close_date"),
        ({"expected_close_date": "2026-13-01"}, "expected_close_date"),
        ({"stage": "WON"}, "stage"),
        ({"stage": "CLOSED_WON"}, "stage"),
        ({"primary_contact": 0}, "primary_contact"),
        ({"source_lead": 1}, "source_lead"),
        ({"closed_at": "2026-01-01T00:00:00Z"}, "closed_at"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, make_account, org, body, field):
    account = make_account()
    response = api(Role.ADMIN).post(
        "/api/opportunities/", {"name": "D", "account": account.pk, **body}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    with schema_context(org.schema_name):
        assert not Opportunity.objects.exists()


def test_the_account_is_required_and_live(api, make_account):
    account = make_account()
    client = api(Role.ADMIN)
    assert client.post("/api/opportunities/", {"name": "D"}, format="json").status_code == 400
    client.delete(f"/api/accounts/{account.pk}/")
    response = client.post("/api/opportunities/", {"name": "D", "account": account.pk}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "unknown_account")


def test_moving_between_open_stages_takes_the_stage_probability(api, make_opportunity, member, org):
    opportunity = make_opportunity()
    manager = member(role=Role.MANAGER)
    client = client_for(org, manager)
    url = f"/api/opportunities/{opportunity.pk}/stage/"
    response = client.post(url, {"stage": "NEGOTIATION", "reason": "Skipped discovery"}, format="json")
    assert (response.status_code, response.json()["stage"], response.json()["probability"]) == (
        200,
        "NEGOTIATION",
        75,
    )
    back = client.post(url, {"stage": "DISCOVERY"}, format="json").json()
    assert (back["stage"], back["probability"], back["is_closed"]) == ("DISCOVERY", 25, False)
    with schema_context(org.schema_name):
        changes = Activity.objects.filter(opportunity=opportunity, type=ActivityType.STAGE_CHANGE).order_by(
            "id"
        )
        plain = ("from", "to", "from_name", "to_name", "reason", "probability", "lost_reason")
        assert [{key: activity.metadata[key] for key in plain} for activity in changes] == [
            {
                "from": "QUALIFICATION",
                "to": "NEGOTIATION",
                "from_name": "Qualification",
                "to_name": "Negotiation",
                "reason": "Skipped discovery",
                "probability": 75,
                "lost_reason": "",
            },
            {
                "from": "NEGOTIATION",
                "to": "DISCOVERY",
                "from_name": "Negotiation",
                "to_name": "Discovery",
                "reason": "",
                "probability": 25,
                "lost_reason": "",
            },
        ]
        stages = dict(PipelineStage.objects.filter(pipeline__is_default=True).values_list("key", "id"))
        assert [(a.metadata["from_stage_id"], a.metadata["to_stage_id"]) for a in changes] == [
            (stages["QUALIFICATION"], stages["NEGOTIATION"]),
            (stages["NEGOTIATION"], stages["DISCOVERY"]),
        ]
        assert {activity.actor_id for activity in changes} == {manager.pk}
        assert {activity.account_id for activity in changes} == {opportunity.account_id}


@pytest.mark.parametrize(("stage", "probability"), [("CLOSED_WON", 100), ("CLOSED_LOST", 0)])
def test_closing_is_final(api, make_opportunity, stage, probability, org):
    opportunity = make_opportunity(stage="PROPOSAL")
    client = api(Role.MANAGER)
    url = f"/api/opportunities/{opportunity.pk}/stage/"
    with schema_context(org.schema_name):
        other = LostReason.objects.get(name="Other").pk
    lost_reason = other if stage == "CLOSED_LOST" else None
    response = client.post(
        url, {"stage": stage, "reason": "Budget decision", "lost_reason": lost_reason}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["stage"], body["probability"], body["close_reason"], body["is_closed"]) == (
        stage,
        probability,
        "Budget decision",
        True,
    )
    assert body["closed_at"] is not None
    for target in ("PROPOSAL", "CLOSED_WON", "CLOSED_LOST"):
        refused = client.post(url, {"stage": target, "reason": "again"}, format="json")
        assert (refused.status_code, refused.json()["code"]) == (409, "opportunity_closed")
        assert refused.json()["details"] == {"stage": stage, "requested": target}
    refused = client.patch(f"/api/opportunities/{opportunity.pk}/", {"probability": 50}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (409, "opportunity_closed")
    # other fields of a closed deal stay editable
    assert (
        client.patch(f"/api/opportunities/{opportunity.pk}/", {"name": "Won big"}, format="json").status_code
        == 200
    )


def test_losing_needs_a_reason(api, make_opportunity, org):
    opportunity = make_opportunity()
    client = api(Role.MANAGER)
    url = f"/api/opportunities/{opportunity.pk}/stage/"
    for body in ({"stage": "CLOSED_LOST"}, {"stage": "CLOSED_LOST", "reason": "   "}):
        response = client.post(url, body, format="json")
        assert (response.status_code, list(response.json()["errors"])) == (400, ["lost_reason"])
    assert client.post(url, {"stage": "CLOSED_WON"}, format="json").status_code == 200
    with schema_context(org.schema_name):
        assert Opportunity.objects.get(pk=opportunity.pk).close_reason == ""


@pytest.mark.parametrize(
    ("body", "status_code", "field_or_code"),
    [
        ({"stage": "QUALIFICATION"}, 409, "stage_unchanged"),
        ({"stage": "WON"}, 400, "stage"),
        ({}, 400, "stage"),
        ({"stage": "PROPOSAL", "reason": 7}, 400, "reason"),
        ({"stage": "PROPOSAL", "reason": "nul\x00"}, 400, "reason"),
    ],
)
def test_bad_stage_changes(api, make_opportunity, org, body, status_code, field_or_code):
    opportunity = make_opportunity()
    response = api(Role.MANAGER).post(f"/api/opportunities/{opportunity.pk}/stage/", body, format="json")
    assert response.status_code == status_code, response.content
    if status_code == 400:
        assert field_or_code in response.json()["errors"]
    else:
        assert response.json()["code"] == field_or_code
    with schema_context(org.schema_name):
        assert not Activity.objects.filter(opportunity=opportunity, type=ActivityType.STAGE_CHANGE).exists()


def test_patch_refuses_stage_and_keeps_the_primary_contact_consistent(
    api, make_account, make_contact, make_opportunity, org
):
    first, second = make_account(), make_account()
    contact = make_contact(account=first)
    opportunity = make_opportunity(account=first, primary_contact_id=contact.pk)
    client = api(Role.MANAGER)
    url = f"/api/opportunities/{opportunity.pk}/"
    refused = client.patch(url, {"stage": "PROPOSAL"}, format="json")
    assert (refused.status_code, refused.json()["code"], list(refused.json()["errors"])) == (
        400,
        "use_stage_endpoint",
        ["stage"],
    )
    moved_alone = client.patch(url, {"account": second.pk}, format="json")
    assert (moved_alone.status_code, list(moved_alone.json()["errors"])) == (400, ["primary_contact"])
    moved = client.patch(
        url, {"account": second.pk, "primary_contact": None, "amount": "10.00"}, format="json"
    )
    assert moved.status_code == 200, moved.json()
    assert (moved.json()["account"]["id"], moved.json()["primary_contact"]) == (second.pk, None)
    assert client.patch(url, {"account": None}, format="json").status_code == 400
    with schema_context(org.schema_name):
        update = Activity.objects.get(opportunity=opportunity, type=ActivityType.SYSTEM)
        assert update.metadata["changes"] == {
            "account": [first.pk, second.pk],
            "primary_contact": [contact.pk, None],
            "amount": ["0.00", "10.00"],
        }


def test_list_filters(api, make_account, make_opportunity, member, org):
    rep = member(role=Role.REP)
    client = client_for(org, rep)
    initech = make_account()
    make_opportunity(
        name="mine", account=initech, owner_id=rep.pk, amount="500.00", expected_close_date=date(2026, 1, 15)
    )
    make_opportunity(
        name="big", stage="NEGOTIATION", amount="90000.00", expected_close_date=date(2026, 3, 31)
    )
    make_opportunity(name="won", stage="CLOSED_WON", amount="20000.00", tags=["vip"])

    assert names(client.get("/api/opportunities/?owner=me")) == ["mine"]
    assert names(client.get(f"/api/opportunities/?account={initech.pk}")) == ["mine"]
    assert names(client.get("/api/opportunities/?stage=negotiation,CLOSED_WON")) == ["big", "won"]
    assert names(client.get("/api/opportunities/?open=true")) == ["big", "mine"]
    assert names(client.get("/api/opportunities/?open=false")) == ["won"]
    assert names(client.get("/api/opportunities/?closing_after=2026-02-01")) == ["big"]
    assert names(client.get("/api/opportunities/?closing_before=2026-03-31")) == ["mine"]
    assert names(client.get("/api/opportunities/?closing_after=2026-01-15&closing_before=2026-04-01")) == [
        "big",
        "mine",
    ]
    assert names(client.get("/api/opportunities/?amount_min=20000")) == ["big", "won"]
    assert names(client.get("/api/opportunities/?amount_max=20000")) == ["mine", "won"]
    assert names(client.get("/api/opportunities/?tag=VIP")) == ["won"]
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert names(client.get(f"/api/opportunities/?created_after={tomorrow}")) == []
    ordered = client.get("/api/opportunities/?ordering=-amount").json()["results"]
    assert [row["name"] for row in ordered] == ["big", "won", "mine"]


@pytest.mark.parametrize(
    "query",
    [
        "stage=WON",
        "open=maybe",
        "account=abc",
        "closing_after=next-quarter",
        "closing_before=2026-02-30",
        "amount_min=lots",
        "owner=someone",
        "ordering=expected_close_date",
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(api, query):
    response = api(Role.ADMIN).get(f"/api/opportunities/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["errors"]


def test_list_costs_the_same_queries_whatever_the_page_size(
    api, make_account, make_contact, make_opportunity, member
):
    owners = [member(role=Role.REP) for _ in range(3)]
    accounts = [make_account() for _ in range(3)]
    contacts = [make_contact(account=account) for account in accounts]
    for index in range(30):
        make_opportunity(
            account=accounts[index % 3],
            primary_contact_id=contacts[index % 3].pk,
            owner_id=owners[index % 3].pk,
        )
    client = api(Role.ADMIN)
    client.get("/api/opportunities/?page_size=1")

    counts = []
    for size in (2, 30):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/opportunities/?page_size={size}")
        assert len(response.json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 3, counts


def test_soft_delete_hides_restore_brings_back(api, make_opportunity):
    opportunity = make_opportunity(name="ghost")
    client = api(Role.MANAGER)
    assert client.delete(f"/api/opportunities/{opportunity.pk}/").status_code == 204
    assert client.get(f"/api/opportunities/{opportunity.pk}/").status_code == 404
    response = client.post(
        f"/api/opportunities/{opportunity.pk}/stage/", {"stage": "PROPOSAL"}, format="json"
    )
    assert response.status_code == 404
    assert "ghost" not in names(client.get("/api/opportunities/"))
    restored = client.post(f"/api/opportunities/{opportunity.pk}/restore/")
    assert (restored.status_code, restored.json()["deleted_at"]) == (200, None)
    assert (
        client.post(f"/api/opportunities/{opportunity.pk}/restore/").json()["code"]
        == "opportunity_not_deleted"
    )


def test_a_merged_opportunity_answers_301_to_the_survivor(api, make_opportunity, org):
    survivor, merged = make_opportunity(name="survivor"), make_opportunity(name="merged")
    with schema_context(org.schema_name):
        Opportunity.objects.filter(pk=merged.pk).update(merged_into=survivor, merged_at=timezone.now())
    client = api(Role.ADMIN)
    response = client.get(f"/api/opportunities/{merged.pk}/")
    assert (response.status_code, response["Location"]) == (301, f"/api/opportunities/{survivor.pk}/")
    assert response.json()["details"] == {"survivor_id": survivor.pk}
    assert names(client.get("/api/opportunities/")) == ["survivor"]
    response = client.post(f"/api/opportunities/{merged.pk}/stage/", {"stage": "PROPOSAL"}, format="json")
    assert response.status_code == 404


def test_unknown_and_absurd_ids_are_404(api):
    client = api(Role.ADMIN)
    for opportunity_id in ("0", "424242", "99999999999999999999999999"):
        assert client.get(f"/api/opportunities/{opportunity_id}/").status_code == 404
        response = client.post(
            f"/api/opportunities/{opportunity_id}/stage/", {"stage": "PROPOSAL"}, format="json"
        )
        assert response.status_code == 404


def test_organizations_never_see_each_others_opportunities(api, make_opportunity, org, other_org):
    ours = make_opportunity(name="acme secret")
    theirs = make_opportunity(name="globex secret", organization=other_org)
    acme, globex = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)
    assert names(acme.get("/api/opportunities/")) == ["acme secret"]
    assert names(globex.get("/api/opportunities/")) == ["globex secret"]
    assert acme.get(f"/api/opportunities/{theirs.pk}/").json().get("name") != "globex secret"
    assert globex.get(f"/api/opportunities/{ours.pk}/").json().get("name") != "acme secret"
    globex.post(f"/api/opportunities/{ours.pk}/stage/", {"stage": "CLOSED_WON"}, format="json")
    with schema_context(org.schema_name):
        assert Opportunity.objects.get(pk=ours.pk).stage == "QUALIFICATION"


def test_opportunity_endpoints_require_a_member(org, make_opportunity):
    opportunity = make_opportunity()
    anonymous = client_for(org)
    for method, url in [
        ("get", "/api/opportunities/"),
        ("post", "/api/opportunities/"),
        ("get", f"/api/opportunities/{opportunity.pk}/"),
        ("post", f"/api/opportunities/{opportunity.pk}/stage/"),
        ("get", f"/api/opportunities/{opportunity.pk}/activities/"),
    ]:
        assert getattr(anonymous, method)(url).status_code == 401


def test_a_deal_shows_its_weighted_amount(api, make_account):
    """amount x probability, as the forecast weighs it, in the deal's own currency."""
    body = {
        "name": "D",
        "account": make_account().pk,
        "amount": "1234.50",
        "probability": 35,
        "currency": "EUR",
    }
    created = api(Role.MANAGER).post("/api/opportunities/", body, format="json").json()
    assert (created["weighted_amount"], created["currency"]) == ("432.08", "EUR")
    listed = api(Role.VIEWER).get("/api/opportunities/").json()["results"]
    assert [row["weighted_amount"] for row in listed if row["id"] == created["id"]] == ["432.08"]
