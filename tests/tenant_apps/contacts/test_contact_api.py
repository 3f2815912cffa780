from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.contacts.models import Contact
from tests.conftest import client_for


def names(response):
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def test_create_normalizes_and_writes_created_on_the_contact_and_its_account(api, make_account, member, org):
    account = make_account(name="Initech")
    owner = member(role=Role.REP)
    response = api(Role.MANAGER).post(
        "/api/contacts/",
        {
            "name": " Peter Gibbons ",
            "email": "Peter@Initech.COM",
            "phone": "+1 (555) 010-2000",
            "title": "Engineer",
            "account": account.pk,
            "owner": owner.pk,
            "tags": ["TPS", "tps"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["email"], body["phone"], body["title"]) == (
        "Peter Gibbons",
        "peter@initech.com",
        "+1 (555) 010-2000",
        "Engineer",
    )
    assert (body["account"], body["owner"]["id"], body["tags"]) == (
        {"id": account.pk, "name": "Initech"},
        owner.pk,
        ["tps"],
    )
    with schema_context(org.schema_name):
        contact = Contact.objects.get(pk=body["id"])
        assert contact.phone_normalized == "+15550102000"
        [created] = Activity.objects.filter(contact=contact)
        assert (created.type, created.account_id) == (ActivityType.CREATED, account.pk)
        assert Account.objects.get(pk=account.pk).last_activity_at == created.occurred_at


def test_a_contact_needs_no_account(api):
    response = api(Role.REP).post("/api/contacts/", {"name": "Freelancer"}, format="json")
    assert (response.status_code, response.json()["account"]) == (201, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 123}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul\x00byte"}, "name"),
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "A", "email": ["a@b.co"]}, "email"),
        ({"name": "A", "phone": "call me maybe"}, "phone"),
        ({"name": "A", "title": "x" * 201}, "title"),
        ({"name": "A", "account": "abc"}, "account"),
        ({"name": "A", "account": 2**70}, "account"),
        ({"name": "A", "account": 999_999_999}, "account"),
        ({"name": "A", "owner": 999_999}, "owner"),
        ({"name": "A", "tags": "not-a-list"}, "tags"),
        ({"name": "A", "last_contacted_at": "2020-01-01T00:00:00Z"}, "last_contacted_at"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, org, body, field):
    response = api(Role.ADMIN).post("/api/contacts/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    with schema_context(org.schema_name):
        assert not Contact.objects.exists()


def test_the_account_must_be_a_live_account_of_this_organization(api, make_account, org, other_org):
    deleted, merged, survivor = make_account(), make_account(), make_account()
    theirs = make_account(organization=other_org)
    client = api(Role.ADMIN)
    client.delete(f"/api/accounts/{deleted.pk}/")
    with schema_context(org.schema_name):
        Account.objects.filter(pk=merged.pk).update(merged_into=survivor)
        existing = set(Account.objects.values_list("pk", flat=True))
    for account_id in (deleted.pk, merged.pk) + (() if theirs.pk in existing else (theirs.pk,)):
        response = client.post("/api/contacts/", {"name": "A", "account": account_id}, format="json")
        assert (response.status_code, response.json()["code"]) == (400, "unknown_account")
    with schema_context(org.schema_name):
        assert not Contact.objects.exists()


def test_patch_moves_between_accounts_and_records_it(api, make_account, make_contact, org):
    first, second = make_account(), make_account()
    contact = make_contact(account=first)
    client = api(Role.REP)
    response = client.patch(f"/api/contacts/{contact.pk}/", {"account": second.pk}, format="json")
    assert (response.status_code, response.json()["account"]["id"]) == (200, second.pk)
    response = client.patch(f"/api/contacts/{contact.pk}/", {"account": None}, format="json")
    assert (response.status_code, response.json()["account"]) == (200, None)
    assert client.patch(f"/api/contacts/{contact.pk}/", {"account": 0}, format="json").status_code == 400
    assert client.patch(f"/api/contacts/{contact.pk}/", {"name": None}, format="json").status_code == 400
    with schema_context(org.schema_name):
        updates = Activity.objects.filter(contact=contact, type=ActivityType.SYSTEM).order_by("id")
        assert [activity.metadata["changes"] for activity in updates] == [
            {"account": [first.pk, second.pk]},
            {"account": [second.pk, None]},
        ]
        # each activity stays on the account the contact was at when it happened
        assert [activity.account_id for activity in updates] == [second.pk, None]


def test_list_filters(api, make_account, make_contact, member, org):
    rep = member(role=Role.REP)
    client = client_for(org, rep)
    initech, globex_inc = make_account(), make_account()
    make_contact(name="mine", account=initech, owner_id=rep.pk, tags=["vip"])
    make_contact(name="at globex", account=globex_inc, tags=["vip", "q4"])
    make_contact(name="freelancer")

    assert names(client.get(f"/api/contacts/?account={initech.pk}")) == ["mine"]
    assert names(client.get("/api/contacts/?account=none")) == ["freelancer"]
    assert names(client.get("/api/contacts/?owner=me")) == ["mine"]
    assert names(client.get("/api/contacts/?owner=none")) == ["at globex", "freelancer"]
    assert names(client.get("/api/contacts/?tag=VIP")) == ["at globex", "mine"]
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert names(client.get(f"/api/contacts/?created_after={tomorrow}")) == []
    assert len(names(client.get(f"/api/contacts/?created_before={tomorrow}&ordering=-name"))) == 3


@pytest.mark.parametrize(
    "query",
    ["account=acme", "account=-1", "owner=someone", "created_before=soon", "ordering=email", "cursor=x"],
)
def test_bad_list_parameters_are_400_naming_the_parameter(api, query):
    response = api(Role.ADMIN).get(f"/api/contacts/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["errors"]


def test_list_costs_the_same_queries_whatever_the_page_size(api, make_account, make_contact, member):
    owners = [member(role=Role.REP) for _ in range(5)]
    accounts = [make_account() for _ in range(5)]
    for index in range(30):
        make_contact(account=accounts[index % 5], owner_id=owners[index % 5].pk)
    client = api(Role.ADMIN)
    client.get("/api/contacts/?page_size=1")

    counts = []
    for size in (2, 30):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/contacts/?page_size={size}")
        assert len(response.json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 3, counts


def test_soft_delete_hides_restore_brings_back(api, make_contact):
    contact = make_contact(name="ghost")
    client = api(Role.MANAGER)
    assert client.delete(f"/api/contacts/{contact.pk}/").status_code == 204
    assert client.get(f"/api/contacts/{contact.pk}/").status_code == 404
    assert client.patch(f"/api/contacts/{contact.pk}/", {"name": "x"}, format="json").status_code == 404
    assert client.post(f"/api/contacts/{contact.pk}/notes/", {"body": "x"}, format="json").status_code == 404
    assert "ghost" not in names(client.get("/api/contacts/"))
    restored = client.post(f"/api/contacts/{contact.pk}/restore/")
    assert (restored.status_code, restored.json()["deleted_at"]) == (200, None)
    assert client.post(f"/api/contacts/{contact.pk}/restore/").json()["code"] == "contact_not_deleted"


def test_a_merged_contact_answers_301_to_the_survivor(api, make_contact, org):
    survivor, merged = make_contact(name="survivor"), make_contact(name="merged")
    with schema_context(org.schema_name):
        Contact.objects.filter(pk=merged.pk).update(merged_into=survivor, merged_at=timezone.now())
    client = api(Role.ADMIN)
    response = client.get(f"/api/contacts/{merged.pk}/")
    assert (response.status_code, response["Location"]) == (301, f"/api/contacts/{survivor.pk}/")
    assert response.json()["details"] == {"survivor_id": survivor.pk}
    assert names(client.get("/api/contacts/")) == ["survivor"]
    assert client.get(f"/api/contacts/{merged.pk}/activities/").status_code == 404


def test_organizations_never_see_each_others_contacts(api, make_contact, org, other_org):
    ours = make_contact(name="acme secret")
    theirs = make_contact(name="globex secret", organization=other_org)
    acme, globex = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)
    assert names(acme.get("/api/contacts/")) == ["acme secret"]
    assert names(globex.get("/api/contacts/")) == ["globex secret"]
    assert acme.get(f"/api/contacts/{theirs.pk}/").json().get("name") != "globex secret"
    assert globex.get(f"/api/contacts/{ours.pk}/").json().get("name") != "acme secret"
    globex.patch(f"/api/contacts/{ours.pk}/", {"name": "hijacked"}, format="json")
    with schema_context(org.schema_name):
        assert Contact.objects.get(pk=ours.pk).name == "acme secret"


def test_contact_endpoints_require_a_member(org, make_contact):
    contact = make_contact()
    anonymous = client_for(org)
    for method, url in [
        ("get", "/api/contacts/"),
        ("post", "/api/contacts/"),
        ("get", f"/api/contacts/{contact.pk}/"),
        ("delete", f"/api/contacts/{contact.pk}/"),
        ("get", f"/api/contacts/{contact.pk}/notes/"),
        ("post", f"/api/contacts/{contact.pk}/activities/"),
    ]:
        assert getattr(anonymous, method)(url).status_code == 401
