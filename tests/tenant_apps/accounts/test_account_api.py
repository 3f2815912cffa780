from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.core import events
from shared_apps.core.errors import InvalidInput
from shared_apps.users.models import Role
from tenant_apps.accounts import services
from tenant_apps.accounts.models import Account, AccountStatusChange
from tenant_apps.activities.models import Activity, ActivityType
from tests.conftest import client_for


def names(response):
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def test_create_normalizes_and_writes_the_created_activity(api, org, member):
    owner = member(role=Role.REP)
    response = api(Role.MANAGER).post(
        "/api/accounts/",
        {
            "name": "  Initech ",
            "domain": "https://www.Initech.COM/about?ref=ads",
            "industry": " Software ",
            "size": "51-200",
            "owner": owner.pk,
            "tags": ["Enterprise", " key  account", "enterprise"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["domain"], body["industry"], body["size"]) == (
        "Initech",
        "initech.com",
        "Software",
        "51-200",
    )
    assert (body["status"], body["owner"]["id"], body["tags"]) == (
        "prospect",
        owner.pk,
        ["enterprise", "key account"],
    )
    with schema_context(org.schema_name):
        [created] = Activity.objects.filter(account_id=body["id"])
        assert created.type == ActivityType.CREATED
        assert created.metadata == {"status": "prospect", "owner_id": owner.pk}


def test_create_may_give_the_starting_status(api):
    response = api(Role.ADMIN).post("/api/accounts/", {"name": "A", "status": "customer"}, format="json")
    assert (response.status_code, response.json()["status"]) == (201, "customer")


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("acme.com", "acme.com"),
        ("ACME.com", "acme.com"),
        ("https://www.acme.com/", "acme.com"),
        ("http://acme.com:8080/path?q=1#top", "acme.com"),
        ("www.sub.acme.co.uk.", "sub.acme.co.uk"),
        ("https://user:secret@Shop.Acme.io/cart", "shop.acme.io"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("  ", ""),
    ],
)
def test_domain_normalization(raw, normalized):
    assert services.normalize_domain(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "not a domain",
        "localhost",
        "http://",
        "192.168.0.1",
        "-acme.com",
        f"{'a' * 64}.com",
        "acme..com",
        "[::1",
    ],
)
def test_bad_domains_are_refused(raw):
    with pytest.raises(InvalidInput) as error:
        services.normalize_domain(raw)
    assert error.value.field == "domain"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 123}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul\x00byte"}, "name"),
        ({"name": "A", "domain": "not a domain"}, "domain"),
        ({"name": "A", "domain": 42}, "domain"),
        ({"name": "A", "domain": "acme\x00.com"}, "domain"),
        ({"name": "A", "industry": "x" * 101}, "industry"),
        ({"name": "A", "size": "huge"}, "size"),
        ({"name": "A", "status": "gold"}, "status"),
        ({"name": "A", "owner": "abc"}, "owner"),
        ({"name": "A", "owner": 2**70}, "owner"),
        ({"name": "A", "owner": 999_999}, "owner"),
        ({"name": "A", "tags": "not-a-list"}, "tags"),
        ({"name": "A", "tags": [None]}, "tags[0]"),
        ({"name": "A", "tags": [str(i) for i in range(21)]}, "tags"),
        ({"name": "A", "colour": "blue"}, "colour"),
        ({"name": "A", "last_activity_at": "2020-01-01T00:00:00Z"}, "last_activity_at"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, org, body, field):
    response = api(Role.ADMIN).post("/api/accounts/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    with schema_context(org.schema_name):
        assert not Account.objects.exists()


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", '"a string"', "null"])
def test_malformed_bodies_are_400(api, make_account, payload):
    account = make_account()
    client = api(Role.ADMIN)
    assert client.post("/api/accounts/", data=payload, content_type="application/json").status_code == 400
    response = client.patch(f"/api/accounts/{account.pk}/", data=payload, content_type="application/json")
    assert response.status_code == 400
    response = client.post(
        f"/api/accounts/{account.pk}/status/", data=payload, content_type="application/json"
    )
    assert response.status_code == 400


def test_service_refuses_what_the_api_would(in_org):
    with pytest.raises(InvalidInput) as error:
        services.account_create(actor=None, name="A", tags="vip")
    assert error.value.field == "tags"
    with pytest.raises(InvalidInput) as error:
        services.account_create(actor=None, name="A", owner_id=True)
    assert error.value.field == "owner"
    with pytest.raises(InvalidInput) as error:
        services.account_create(actor=None, name="A", last_activity_at=None)
    assert error.value.field == "last_activity_at"


def test_patch_refuses_status_and_records_changes(api, make_account, member, org):
    account = make_account(name="Old name", industry="Retail")
    rep = member(role=Role.REP)
    client = api(Role.MANAGER)
    refused = client.patch(f"/api/accounts/{account.pk}/", {"status": "customer"}, format="json")
    assert refused.status_code == 400
    assert (refused.json()["code"], list(refused.json()["errors"])) == ("use_status_endpoint", ["status"])

    response = client.patch(
        f"/api/accounts/{account.pk}/",
        {"name": "New name", "owner": rep.pk, "industry": "Retail", "domain": "WWW.NEW.example"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["name"], response.json()["domain"], response.json()["status"]) == (
        "New name",
        "new.example",
        "prospect",
    )
    with schema_context(org.schema_name):
        owner_change = Activity.objects.get(account_id=account.pk, type=ActivityType.OWNER_CHANGE)
        assert owner_change.metadata == {"from": None, "to": rep.pk}
        update = Activity.objects.get(account_id=account.pk, type=ActivityType.SYSTEM)
        assert update.metadata == {
            "event": "updated",
            "changes": {"name": ["Old name", "New name"], "domain": ["", "new.example"]},
        }
    # nothing changed: no activity
    client.patch(f"/api/accounts/{account.pk}/", {"name": "New name"}, format="json")
    with schema_context(org.schema_name):
        assert Activity.objects.filter(account_id=account.pk, type=ActivityType.SYSTEM).count() == 1


def test_status_change_writes_history_and_activity_together(api, make_account, member, org):
    account = make_account()
    manager = member(role=Role.MANAGER)
    client = client_for(org, manager)
    url = f"/api/accounts/{account.pk}/status/"
    response = client.post(url, {"status": "customer", "reason": "Signed the contract"}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "customer")
    assert client.post(url, {"status": "churned"}, format="json").status_code == 200

    with schema_context(org.schema_name):
        first, second = AccountStatusChange.objects.filter(account=account).order_by("at", "id")
        assert (first.from_status, first.to_status, first.actor_id, first.reason) == (
            "prospect",
            "customer",
            manager.pk,
            "Signed the contract",
        )
        assert (second.from_status, second.to_status, second.reason) == ("customer", "churned", "")
        changes = Activity.objects.filter(account=account, type=ActivityType.STATUS_CHANGE).order_by("id")
        assert [(a.metadata["from"], a.metadata["to"], a.actor_id) for a in changes] == [
            ("prospect", "customer", manager.pk),
            ("customer", "churned", manager.pk),
        ]
        assert changes[0].metadata["status_change_id"] == first.pk
        assert changes[0].occurred_at == first.at

    history = client.get(f"/api/accounts/{account.pk}/status-history/").json()["results"]
    assert [(row["from_status"], row["to_status"]) for row in history] == [
        ("customer", "churned"),
        ("prospect", "customer"),
    ]
    assert history[1]["actor"]["id"] == manager.pk
    assert history[1]["reason"] == "Signed the contract"


def test_status_change_is_announced_after_commit(
    make_account, admin, in_org, django_capture_on_commit_callbacks
):
    account = make_account()
    seen = []
    unsubscribe = events.subscribe("account.", seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.account_set_status(
                account_id=account.pk, status="partner", actor=admin, reason="Reseller"
            )
    finally:
        unsubscribe()
    assert [(event.topic, event.record_id, event.actor_id, event.data) for event in seen] == [
        (
            "account.status_changed",
            account.pk,
            admin.pk,
            {"from": "prospect", "to": "partner", "owner_id": account.owner_id},
        )
    ]


def test_status_change_is_one_transaction(make_account, in_org, monkeypatch):
    account = make_account()

    def broken(**kwargs):
        raise RuntimeError("timeline down")

    monkeypatch.setattr(services, "activity_record", broken)
    with pytest.raises(RuntimeError):
        services.account_set_status(account_id=account.pk, status="customer", actor=None)
    assert Account.objects.get(pk=account.pk).status == "prospect"
    assert not AccountStatusChange.objects.exists()


@pytest.mark.parametrize(
    ("body", "status_code", "field_or_code"),
    [
        ({"status": "prospect"}, 409, "status_unchanged"),
        ({"status": "gold"}, 400, "status"),
        ({}, 400, "status"),
        ({"status": "customer", "reason": 5}, 400, "reason"),
        ({"status": "customer", "reason": "nul\x00"}, 400, "reason"),
        ({"status": "customer", "reason": "x" * 1001}, 400, "reason"),
    ],
)
def test_bad_status_changes(api, make_account, org, body, status_code, field_or_code):
    account = make_account()
    response = api(Role.ADMIN).post(f"/api/accounts/{account.pk}/status/", body, format="json")
    assert response.status_code == status_code, response.content
    if status_code == 400:
        assert field_or_code in response.json()["errors"]
    else:
        assert response.json()["code"] == field_or_code
    with schema_context(org.schema_name):
        assert not AccountStatusChange.objects.exists()


def test_list_filters(api, make_account, member, org):
    rep = member(role=Role.REP)
    client = client_for(org, rep)
    mine = make_account(name="mine", owner_id=rep.pk, industry="Software", size="1-10", tags=["vip"])
    make_account(name="customer", status="customer", industry="software", size="5001+")
    make_account(name="nobodys", industry="Retail", tags=["vip", "q4"])
    with schema_context(org.schema_name):
        stale = timezone.now() - timedelta(days=90)
        Account.objects.filter(name="mine").update(last_activity_at=stale)
        Account.objects.filter(name="nobodys").update(last_activity_at=timezone.now())
        Account.objects.filter(name="customer").update(last_activity_at=None)

    assert names(client.get("/api/accounts/?owner=me")) == ["mine"]
    assert names(client.get("/api/accounts/?owner=none")) == ["customer", "nobodys"]
    assert names(client.get(f"/api/accounts/?owner={rep.pk}")) == ["mine"]
    assert names(client.get("/api/accounts/?status=customer")) == ["customer"]
    assert names(client.get("/api/accounts/?status=PROSPECT,churned")) == ["mine", "nobodys"]
    assert names(client.get("/api/accounts/?industry=SOFTWARE")) == ["customer", "mine"]
    assert names(client.get("/api/accounts/?size=1-10,5001%2B")) == ["customer", "mine"]
    assert names(client.get("/api/accounts/?tag=VIP")) == ["mine", "nobodys"]
    month_ago = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert names(client.get(f"/api/accounts/?inactive_since={month_ago}")) == ["customer", "mine"]
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert names(client.get(f"/api/accounts/?created_after={tomorrow}")) == []
    assert names(client.get(f"/api/accounts/?created_before={tomorrow}")) == ["customer", "mine", "nobodys"]
    assert mine.pk in [row["id"] for row in client.get("/api/accounts/?ordering=name").json()["results"]]


@pytest.mark.parametrize(
    "query",
    [
        "status=gold",
        "size=huge",
        "owner=someone",
        "owner=99999999999999999999999",
        "tag=nul%00",
        "inactive_since=last-week",
        "created_after=yesterday",
        "ordering=domain",
        "cursor=bz1hYmM=",
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(api, query):
    response = api(Role.ADMIN).get(f"/api/accounts/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["errors"]


def test_cursor_pagination_walks_every_account_once_in_order(api, make_account):
    for index in range(7):
        make_account(name=f"account {index}")
    client = api(Role.ADMIN)
    seen, url = [], "/api/accounts/?page_size=3&ordering=-name"
    while url:
        page = client.get(url).json()
        seen += [row["name"] for row in page["results"]]
        url = page["next"]
    assert seen == [f"account {index}" for index in reversed(range(7))]


def test_lists_cost_the_same_queries_whatever_the_page_size(api, make_account, member):
    owners = [member(role=Role.REP) for _ in range(5)]
    for index in range(30):
        make_account(owner_id=owners[index % 5].pk)
    client = api(Role.ADMIN)
    client.get("/api/accounts/?page_size=1")  # warm routing cache and token last_used_at

    counts = []
    for size in (2, 30):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/accounts/?page_size={size}")
        assert len(response.json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 3, counts


def test_history_notes_and_timelines_cost_the_same_queries_whatever_the_page_size(
    api, make_account, make_contact, member, org
):
    account = make_account()
    actors = [member(role=Role.REP) for _ in range(3)]
    with schema_context(org.schema_name):
        for index in range(8):
            services.account_set_status(
                account_id=account.pk,
                status=["customer", "churned"][index % 2],
                actor=actors[index % 3],
            )
    contact = make_contact(account=account)
    client = api(Role.ADMIN)
    for index in range(8):
        client.post(f"/api/accounts/{account.pk}/notes/", {"body": f"note {index}"}, format="json")
        client.post(f"/api/contacts/{contact.pk}/activities/", {"type": "CALL"}, format="json")
    client.get("/api/accounts/?page_size=1")
    for url in (
        f"/api/accounts/{account.pk}/status-history/",
        f"/api/accounts/{account.pk}/activities/",
        f"/api/accounts/{account.pk}/notes/",
        f"/api/contacts/{contact.pk}/activities/",
    ):
        counts = []
        for size in (2, 8):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"{url}?page_size={size}")
            assert len(response.json()["results"]) == size
            counts.append(len(queries))
        # the account's timeline reads its converted leads' ids first (one more query, two index ranges)
        assert counts[0] == counts[1] <= (5 if url.endswith(f"{account.pk}/activities/") else 4), (
            url,
            counts,
        )


def test_soft_delete_hides_restore_brings_back(api, make_account, org):
    account = make_account(name="ghost")
    client = api(Role.MANAGER)
    assert client.delete(f"/api/accounts/{account.pk}/").status_code == 204
    assert client.get(f"/api/accounts/{account.pk}/").status_code == 404
    assert "ghost" not in names(client.get("/api/accounts/"))
    assert client.delete(f"/api/accounts/{account.pk}/").status_code == 404
    for url, body in [
        ("status/", {"status": "customer"}),
        ("notes/", {"body": "hello"}),
        ("activities/", {"type": "CALL"}),
    ]:
        assert client.post(f"/api/accounts/{account.pk}/{url}", body, format="json").status_code == 404
        assert client.get(f"/api/accounts/{account.pk}/{url}").status_code in (404, 405)
    assert client.get(f"/api/accounts/{account.pk}/status-history/").status_code == 404

    restored = client.post(f"/api/accounts/{account.pk}/restore/")
    assert (restored.status_code, restored.json()["deleted_at"]) == (200, None)
    assert "ghost" in names(client.get("/api/accounts/"))
    assert client.post(f"/api/accounts/{account.pk}/restore/").json()["code"] == "account_not_deleted"
    with schema_context(org.schema_name):
        events = Activity.objects.filter(account=account, type=ActivityType.SYSTEM).order_by("id")
        assert [activity.metadata["event"] for activity in events] == ["deleted", "restored"]


def test_a_merged_account_answers_301_to_the_survivor(api, make_account, org):
    survivor, merged = make_account(name="survivor"), make_account(name="merged")
    with schema_context(org.schema_name):
        Account.objects.filter(pk=merged.pk).update(merged_into=survivor, merged_at=timezone.now())
    client = api(Role.ADMIN)
    response = client.get(f"/api/accounts/{merged.pk}/")
    assert response.status_code == 301
    assert response["Location"] == f"/api/accounts/{survivor.pk}/"
    assert response.json()["code"] == "merged"
    assert response.json()["details"] == {"survivor_id": survivor.pk}
    assert names(client.get("/api/accounts/")) == ["survivor"]
    assert client.patch(f"/api/accounts/{merged.pk}/", {"name": "x"}, format="json").status_code == 404
    assert client.post(f"/api/accounts/{merged.pk}/restore/").status_code == 404


def test_a_chain_of_merges_answers_with_the_last_survivor(api, make_account, org):
    first, second, last = make_account(), make_account(), make_account()
    with schema_context(org.schema_name):
        Account.objects.filter(pk=first.pk).update(merged_into=second, merged_at=timezone.now())
        Account.objects.filter(pk=second.pk).update(merged_into=last, merged_at=timezone.now())
    response = api(Role.ADMIN).get(f"/api/accounts/{first.pk}/")
    assert (response.status_code, response["Location"]) == (301, f"/api/accounts/{last.pk}/")
    assert response.json()["details"] == {"survivor_id": last.pk}


def test_unknown_and_absurd_ids_are_404(api):
    client = api(Role.ADMIN)
    for account_id in ("0", "424242", "99999999999999999999999999"):
        assert client.get(f"/api/accounts/{account_id}/").status_code == 404
        assert client.patch(f"/api/accounts/{account_id}/", {}, format="json").status_code == 404
        assert (
            client.post(f"/api/accounts/{account_id}/status/", {"status": "customer"}, format="json")
        ).status_code == 404
        assert client.get(f"/api/accounts/{account_id}/activities/").status_code == 404


def test_organizations_never_see_each_others_accounts(api, make_account, org, other_org):
    ours = make_account(name="acme secret")
    theirs = make_account(name="globex secret", organization=other_org)
    acme, globex = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)

    assert names(acme.get("/api/accounts/")) == ["acme secret"]
    assert names(globex.get("/api/accounts/")) == ["globex secret"]
    # Ids are per schema and may coincide: whatever the id, each host resolves it in its own schema.
    assert acme.get(f"/api/accounts/{theirs.pk}/").json().get("name") != "globex secret"
    assert globex.get(f"/api/accounts/{ours.pk}/").json().get("name") != "acme secret"
    globex.patch(f"/api/accounts/{ours.pk}/", {"name": "hijacked"}, format="json")
    globex.post(f"/api/accounts/{ours.pk}/status/", {"status": "churned"}, format="json")
    with schema_context(org.schema_name):
        assert Account.objects.get(pk=ours.pk).name == "acme secret"
        assert Account.objects.get(pk=ours.pk).status == "prospect"


def test_account_endpoints_require_a_member(org, make_account):
    account = make_account()
    anonymous = client_for(org)
    for method, url in [
        ("get", "/api/accounts/"),
        ("post", "/api/accounts/"),
        ("get", f"/api/accounts/{account.pk}/"),
        ("post", f"/api/accounts/{account.pk}/status/"),
        ("get", f"/api/accounts/{account.pk}/status-history/"),
        ("get", f"/api/accounts/{account.pk}/activities/"),
        ("post", f"/api/accounts/{account.pk}/notes/"),
    ]:
        assert getattr(anonymous, method)(url).status_code == 401


@pytest.mark.parametrize("kind", ["accounts", "contacts", "opportunities"])
def test_a_note_logged_on_a_record_timeline_is_a_note_too(api, org, kind):
    """Logging a NOTE through a record's timeline writes the note itself (as on leads), so the record's notes
    list and its timeline agree."""
    client = api(Role.MANAGER)
    account = client.post("/api/accounts/", {"name": "Noted Parent"}, format="json").json()["id"]
    bodies = {
        "accounts": {"name": "Noted Inc"},
        "contacts": {"name": "Noted Person"},
        "opportunities": {"name": "Noted Deal", "amount": "10.00", "account": account},
    }
    record = client.post(f"/api/{kind}/", bodies[kind], format="json")
    assert record.status_code == 201, record.json()
    base = f"/api/{kind}/{record.json()['id']}/"
    logged = client.post(f"{base}activities/", {"type": "NOTE", "body": "Called back later"}, format="json")
    assert logged.status_code == 201, logged.json()
    assert [note["body"] for note in client.get(f"{base}notes/").json()["results"]] == ["Called back later"]
    with schema_context(org.schema_name):
        assert Activity.objects.filter(type=ActivityType.NOTE, body="Called back later").count() == 1
