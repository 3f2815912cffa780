"""Importing opportunities (deals): each on its account (by id or name), created open, with amounts written
as the organization writes numbers; duplicates by name on the same account; revert."""

from datetime import date
from decimal import Decimal

from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.accounts.services import account_create
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.opportunities.services import opportunity_create
from tests.conftest import client_for
from tests.tenant_apps.imports.conftest import assert_counts_add_up, csv_rows, revert, run, upload


def deals(org):
    with schema_context(org.schema_name):
        return list(Opportunity.objects.filter(deleted_at__isnull=True).order_by("id").values())


def test_deals_import_on_their_accounts_created_open(imported, org, admin, manager, client):
    with schema_context(org.schema_name):
        acme = account_create(actor=admin, name="Acme")
        globex = account_create(actor=admin, name="Globex")
    done = imported(
        "Deal Name,Company,Amount,Stage,Close Date,Owner,Tags\n"
        f'Big,acme,"12,500.50",proposal,2027-03-31,{manager.email},q4\n'
        f"Small,{globex.pk},,,,,\n"
        "Lost,Acme,10,CLOSED_LOST,,,\n"
        "Nowhere,Initech,10,,,,\n"
        "Leap,Acme,10,,2027-02-29,,\n"
        "Orphan,,10,,,,\n",
        record_type="opportunity",
    )
    assert (done.imported, done.failed) == (2, 4)
    assert_counts_add_up(done)
    big, small = deals(org)
    assert (big["name"], big["account_id"], big["amount"], big["stage"], big["probability"]) == (
        "Big",
        acme.pk,
        Decimal("12500.50"),
        "PROPOSAL",
        50,
    )
    assert (big["expected_close_date"], big["owner_id"], big["tags"]) == (
        date(2027, 3, 31),
        manager.pk,
        ["q4"],
    )
    assert (small["account_id"], small["stage"], small["probability"], small["currency"]) == (
        globex.pk,
        "QUALIFICATION",
        10,
        "USD",
    )
    rows = csv_rows(client.get(f"/api/imports/{done.pk}/errors.csv"))
    assert [(row["line"], row["code"], row["field"]) for row in rows] == [
        ("4", "unknown_stage", "stage"),
        ("5", "unknown_account", "account"),
        ("6", "invalid_date", "expected_close_date"),
        ("7", "required", "account"),
    ]
    with schema_context(org.schema_name):
        created = Activity.objects.get(opportunity_id=big["id"], type=ActivityType.CREATED)
        assert (created.account_id, created.metadata["import_id"]) == (acme.pk, done.pk)


def test_a_deal_of_the_same_name_on_the_same_account_is_a_duplicate(imported, org, admin):
    with schema_context(org.schema_name):
        acme = account_create(actor=admin, name="Acme")
        other = account_create(actor=admin, name="Other")
        existing = opportunity_create(actor=admin, name="Renewal", account_id=acme.pk, amount="10")
    done = imported(
        "name,account,amount\nRENEWAL,Acme,20\nRenewal,Other,30\n",
        record_type="opportunity",
        duplicate_policy="update",
    )
    assert (done.updated, done.imported) == (1, 1)
    with schema_context(org.schema_name):
        assert Opportunity.objects.get(pk=existing.pk).amount == Decimal("20.00")
        assert Opportunity.objects.filter(account=other, name="Renewal").count() == 1


def test_reverting_a_deals_import_removes_the_deals(imported, org, admin, client):
    with schema_context(org.schema_name):
        account_create(actor=admin, name="Acme")
    done = imported("name,account\nOne,Acme\nTwo,Acme\n", record_type="opportunity")
    assert done.imported == 2
    assert client.post(f"/api/imports/{done.pk}/revert/").status_code == 202
    reverted = revert(org, done.pk)
    assert reverted.reverted["removed"] == 2
    assert deals(org) == []


def test_an_exported_deal_imports_back_into_another_organization(api, org, other_org, admin, member):
    with schema_context(org.schema_name):
        acme = account_create(actor=admin, name="Acme")
        opportunity_create(
            actor=admin, name="Big", account_id=acme.pk, amount="12500.50", tags=["q4"], stage="PROPOSAL"
        )
    exported = b"".join(api(Role.ADMIN).get("/api/exports/opportunities.csv").streaming_content)
    globex_manager = member(role=Role.MANAGER, organization=other_org)
    with schema_context(other_org.schema_name):
        account_create(actor=globex_manager, name="Acme")
    response = upload(client_for(other_org, globex_manager), exported, record_type="opportunity")
    assert response.status_code == 202, response.content
    done = run(other_org, response.json()["id"])
    assert (done.imported, done.failed) == (1, 0)
    keys = ("name", "amount", "currency", "stage", "probability", "tags")
    assert [{k: deal[k] for k in keys} for deal in deals(other_org)] == [
        {k: deal[k] for k in keys} for deal in deals(org)
    ]
