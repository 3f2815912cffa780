import threading
from datetime import date

import pytest
from django.db import transaction
from django_tenants.utils import schema_context

from shared_apps.core import events
from shared_apps.core.timeline import timeline_switch
from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.contacts.models import Contact
from tenant_apps.leads import conversion, services
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.opportunities.models import Opportunity
from tests.conftest import InThread, client_for
from tests.tenant_apps.accounts.factories import make_account

__all__ = ["make_account"]  # a fixture


def convert(client, lead, **body):
    return client.post(f"/api/leads/{lead.pk}/convert/", body, format="json")


def counts():
    return (
        Account.objects.count(),
        Contact.objects.count(),
        Opportunity.objects.count(),
        Activity.objects.count(),
    )


@pytest.fixture
def qualified(make_lead, member):
    owner = member(role=Role.REP)
    return make_lead(
        stage=Stage.QUALIFIED,
        name="Jane Doe",
        email="jane@initech.example",
        phone="+1 555 010 9999",
        company="Initech",
        value="4200.00",
        currency="EUR",
        owner_id=owner.pk,
        tags=["vip", "q4"],
    )


def test_conversion_creates_account_contact_and_opportunity_linked_to_the_lead(api, qualified, org):
    client = api(Role.MANAGER)
    response = convert(client, qualified, create_opportunity=True, expected_close_date="2026-06-30")
    assert response.status_code == 201, response.content
    ids = response.json()
    assert ids["lead_id"] == qualified.pk and ids["account_created"] is True
    assert ids["converted_at"] is not None
    with schema_context(org.schema_name):
        lead = Lead.objects.get(pk=qualified.pk)
        account = Account.objects.get(pk=ids["account_id"])
        contact = Contact.objects.get(pk=ids["contact_id"])
        opportunity = Opportunity.objects.get(pk=ids["opportunity_id"])
        assert (lead.converted_account_id, lead.converted_contact_id, lead.converted_opportunity_id) == (
            account.pk,
            contact.pk,
            opportunity.pk,
        )
        assert lead.converted_at is not None and lead.stage == Stage.QUALIFIED
        assert (account.name, account.owner_id) == ("Initech", qualified.owner_id)
        assert (contact.name, contact.email, contact.phone, contact.owner_id, contact.tags) == (
            "Jane Doe",
            "jane@initech.example",
            "+1 555 010 9999",
            qualified.owner_id,
            ["vip", "q4"],
        )
        assert contact.account_id == account.pk
        assert (opportunity.account_id, opportunity.primary_contact_id, opportunity.source_lead_id) == (
            account.pk,
            contact.pk,
            lead.pk,
        )
        assert (
            str(opportunity.amount),
            opportunity.currency,
            opportunity.stage,
            opportunity.probability,
        ) == (
            "4200.00",
            "EUR",
            "QUALIFICATION",
            10,
        )
        assert opportunity.expected_close_date == date(2026, 6, 30)

        converted = Activity.objects.get(lead=lead, type=ActivityType.CONVERTED)
        assert converted.metadata == {
            "account_id": account.pk,
            "contact_id": contact.pk,
            "opportunity_id": opportunity.pk,
            "account_created": True,
        }
        for record in (account, contact, opportunity):
            created = Activity.objects.get(
                **{record._meta.model_name: record},
                type=ActivityType.CREATED,
                **({"contact": None, "opportunity": None} if record is account else {}),
            )
            assert created.metadata["lead_id"] == lead.pk
            assert f"lead #{lead.pk}" in created.subject

    # it shows on every timeline
    for url in (
        f"/api/leads/{qualified.pk}/activities/?type=CONVERTED",
        f"/api/accounts/{ids['account_id']}/activities/?type=CONVERTED",
    ):
        assert [row["type"] for row in client.get(url).json()["results"]] == ["CONVERTED"], url
    for path in ("contacts", "opportunities", "accounts"):
        record_id = ids[f"{'opportunity' if path == 'opportunities' else path[:-1]}_id"]
        rows = client.get(f"/api/{path}/{record_id}/activities/?type=CREATED").json()["results"]
        assert any(row["metadata"].get("lead_id") == qualified.pk for row in rows), path


def test_the_account_timeline_rolls_up_the_converted_lead(api, make_lead, make_account):
    account = make_account(name="Existing")
    lead = make_lead(stage=Stage.PROPOSAL, name="Sam")
    client = api(Role.MANAGER)
    client.post(f"/api/leads/{lead.pk}/notes/", {"body": "before conversion"}, format="json")
    response = convert(client, lead, account=account.pk)
    assert (response.status_code, response.json()["account_created"]) == (201, False)
    assert response.json()["opportunity_id"] is None

    rows = client.get(f"/api/accounts/{account.pk}/activities/").json()["results"]
    on_lead = [row["type"] for row in rows if row["lead"] == lead.pk]
    assert on_lead == ["CONVERTED", "NOTE", "STAGE_CHANGE", "STAGE_CHANGE", "STAGE_CHANGE", "CREATED"]
    assert [row["type"] for row in rows if row["contact"] == response.json()["contact_id"]] == ["CREATED"]


def test_conversion_is_announced_after_commit(qualified, admin, org, django_capture_on_commit_callbacks):
    seen = []
    unsubscribe = events.subscribe("", seen.append)
    try:
        with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
            done = conversion.lead_convert(lead_id=qualified.pk, actor=admin, create_opportunity=True)
    finally:
        unsubscribe()
    topics = [event.topic for event in seen]
    assert topics == ["account.created", "contact.created", "opportunity.created", "lead.converted"]
    assert seen[-1].data == {
        "owner_id": qualified.owner_id,
        "account_id": done.account.pk,
        "contact_id": done.contact.pk,
        "opportunity_id": done.opportunity.pk,
        "account_created": True,
    }


def test_an_unknown_account_writes_nothing(api, qualified, org):
    with schema_context(org.schema_name):
        before = counts()
    response = convert(api(Role.ADMIN), qualified, account=999_999_999, create_opportunity=True)
    assert (response.status_code, response.json()["code"], list(response.json()["errors"])) == (
        400,
        "unknown_account",
        ["account"],
    )
    with schema_context(org.schema_name):
        assert counts() == before
        assert Lead.objects.get(pk=qualified.pk).converted_at is None


def test_a_failure_midway_rolls_everything_back(qualified, admin, org, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("opportunity store down")

    monkeypatch.setattr(conversion, "opportunity_create", broken)
    with schema_context(org.schema_name):
        before = counts()
        with pytest.raises(RuntimeError):
            conversion.lead_convert(lead_id=qualified.pk, actor=admin, create_opportunity=True)
        # the account and the contact were written before the failure: gone with it
        assert counts() == before
        assert Lead.objects.get(pk=qualified.pk).converted_at is None
    monkeypatch.undo()
    with schema_context(org.schema_name):
        done = conversion.lead_convert(lead_id=qualified.pk, actor=admin, create_opportunity=True)
        assert done.opportunity is not None


def test_a_lead_converts_once(api, qualified, org):
    client = api(Role.ADMIN)
    first = convert(client, qualified, create_opportunity=True).json()
    with schema_context(org.schema_name):
        before = counts()
    again = convert(client, qualified, account_name="Another")
    assert (again.status_code, again.json()["code"]) == (409, "already_converted")
    details = again.json()["details"]
    assert (details["account_id"], details["contact_id"], details["opportunity_id"]) == (
        first["account_id"],
        first["contact_id"],
        first["opportunity_id"],
    )
    with schema_context(org.schema_name):
        assert counts() == before


@pytest.mark.parametrize("stage", [Stage.NEW, Stage.CONTACTED, Stage.LOST])
def test_only_a_qualified_or_later_lead_converts(api, make_lead, org, stage):
    lead = make_lead(stage=stage, company="Initech")
    response = convert(api(Role.ADMIN), lead)
    assert (response.status_code, response.json()["code"]) == (409, "lead_not_convertible")
    assert response.json()["details"]["stage"] == stage
    assert stage in response.json()["message"]
    with schema_context(org.schema_name):
        assert not Account.objects.exists() and not Contact.objects.exists()


@pytest.mark.parametrize(
    ("stage", "opportunity_stage"),
    [(Stage.PROPOSAL, "PROPOSAL"), (Stage.NEGOTIATION, "NEGOTIATION"), (Stage.WON, "CLOSED_WON")],
)
def test_the_opportunity_starts_where_the_lead_is(api, make_lead, org, stage, opportunity_stage):
    lead = make_lead(stage=stage, company="Initech", value="100.00")
    response = convert(
        api(Role.MANAGER), lead, create_opportunity=True, opportunity_name="Big deal", amount="250.00"
    )
    assert response.status_code == 201, response.content
    with schema_context(org.schema_name):
        opportunity = Opportunity.objects.get(pk=response.json()["opportunity_id"])
        assert (opportunity.name, str(opportunity.amount), opportunity.stage) == (
            "Big deal",
            "250.00",
            opportunity_stage,
        )
        assert (opportunity.closed_at is not None) == (stage == Stage.WON)
        if stage == Stage.WON:
            assert opportunity.probability == 100


def test_the_account_name_defaults_to_the_company_and_is_required_without_one(api, make_lead, org):
    client = api(Role.ADMIN)
    nameless = make_lead(stage=Stage.QUALIFIED, company="")
    response = convert(client, nameless)
    assert (response.status_code, list(response.json()["errors"])) == (400, ["account_name"])
    response = convert(client, nameless, account_name="Jane's shop")
    assert response.status_code == 201
    with schema_context(org.schema_name):
        assert Account.objects.get(pk=response.json()["account_id"]).name == "Jane's shop"


def test_a_deactivated_owner_is_not_carried_over(api, make_lead, member, org):
    former = member(role=Role.REP)
    lead = make_lead(stage=Stage.QUALIFIED, company="Initech", owner_id=former.pk)
    with schema_context(org.schema_name):
        former.is_active = False
        former.save(update_fields=["is_active"])
    response = convert(api(Role.ADMIN), lead)
    assert response.status_code == 201, response.content
    with schema_context(org.schema_name):
        assert Contact.objects.get(pk=response.json()["contact_id"]).owner_id is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"account": "abc"}, "account"),
        ({"account": 0}, "account"),
        ({"account": 2**70}, "account"),
        ({"account_name": 5}, "account_name"),
        ({"account_name": "nul\x00"}, "account_name"),
        ({"account_name": "x" * 201}, "account_name"),
        ({"create_opportunity": "maybe"}, "create_opportunity"),
        ({"create_opportunity": True, "amount": "-1"}, "amount"),
        ({"create_opportunity": True, "amount": "NaN"}, "amount"),
        ({"create_opportunity": True, "expected_close_date": "soon"}, "expected_close_date"),
        ({"create_opportunity": True, "opportunity_name": ["x"]}, "opportunity_name"),
        ({"account": 1, "account_name": "Both"}, "account_name"),
        ({"opportunity_name": "Deal"}, "create_opportunity"),
        ({"amount": "10.00"}, "create_opportunity"),
        ({"stage": "WON"}, "stage"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, qualified, org, body, field):
    response = convert(api(Role.ADMIN), qualified, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=qualified.pk).converted_at is None
        assert not Contact.objects.exists()


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", "null"])
def test_malformed_bodies_are_400(api, qualified, payload):
    response = api(Role.ADMIN).post(
        f"/api/leads/{qualified.pk}/convert/", data=payload, content_type="application/json"
    )
    assert response.status_code == 400


def test_deleted_unknown_and_other_organizations_leads_are_404(api, make_lead, org, other_org):
    client = api(Role.ADMIN)
    deleted = make_lead(stage=Stage.QUALIFIED, company="Initech")
    client.delete(f"/api/leads/{deleted.pk}/")
    assert convert(client, deleted).status_code == 404
    assert client.post("/api/leads/99999999999999999999/convert/", {}, format="json").status_code == 404

    ours = make_lead(stage=Stage.QUALIFIED, company="Initech")
    globex = api(Role.ADMIN, organization=other_org)
    convert(globex, ours)
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=ours.pk).converted_at is None


def test_conversion_requires_a_member(org, qualified):
    assert client_for(org).post(f"/api/leads/{qualified.pk}/convert/", {}, format="json").status_code == 401


@pytest.mark.django_db(transaction=False)
def test_concurrent_conversions_of_one_lead_make_one_set_of_records(org, django_db_blocker):
    schema = org.schema_name

    def create():
        with schema_context(schema):
            lead = services.lead_create(actor=None, name="Race", company="Race Inc", allow_duplicate=True)
            for stage in (Stage.CONTACTED, Stage.QUALIFIED):
                services.lead_transition(lead_id=lead.pk, to_stage=stage, actor=None)
            return lead.pk

    def race(lead_id, barrier):
        barrier.wait()
        with schema_context(schema):
            return conversion.lead_convert(lead_id=lead_id, actor=None, create_opportunity=True).contact.pk

    def outcome(lead_id):
        with schema_context(schema):
            lead = Lead.objects.get(pk=lead_id)
            return (
                lead.converted_contact_id,
                list(Contact.objects.filter(name="Race").values_list("pk", flat=True)),
                Opportunity.objects.filter(source_lead_id=lead_id).count(),
            )

    def purge(lead_id):
        with schema_context(schema), transaction.atomic(), timeline_switch("purge"):
            Opportunity.objects.filter(source_lead_id=lead_id).delete()
            Contact.objects.filter(name="Race").delete()
            Account.objects.filter(name="Race Inc").delete()
            Lead.objects.filter(pk=lead_id).delete()

    with django_db_blocker.unblock():
        lead_id = InThread(create).join()
        try:
            barrier = threading.Barrier(4)
            racers = [InThread(race, lead_id, barrier) for _ in range(4)]
            results = [racer.settle() for racer in racers]
            winners = [result for result in results if not isinstance(result, BaseException)]
            assert len(winners) == 1, results
            losers = [result for result in results if isinstance(result, BaseException)]
            assert all(isinstance(loser, conversion.AlreadyConverted) for loser in losers), results
            assert InThread(outcome, lead_id).join() == (winners[0], winners, 1)
        finally:
            InThread(purge, lead_id).join()  # raises if committed rows were left behind to break other tests


def test_the_lead_api_shows_when_and_where_a_lead_was_converted(api, qualified):
    client = api(Role.MANAGER)
    before = client.get(f"/api/leads/{qualified.pk}/").json()
    assert (before["converted_at"], before["converted_opportunity"]) == (None, None)
    ids = convert(client, qualified, create_opportunity=True).json()
    shown = client.get(f"/api/leads/{qualified.pk}/").json()
    assert shown["converted_at"] is not None
    assert (shown["converted_account"], shown["converted_contact"], shown["converted_opportunity"]) == (
        ids["account_id"],
        ids["contact_id"],
        ids["opportunity_id"],
    )
    listed = client.get("/api/leads/").json()["results"]
    assert [row["converted_opportunity"] for row in listed if row["id"] == qualified.pk] == [
        ids["opportunity_id"]
    ]
