from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.filtering.periods import quarter_of
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.segments import selectors, services
from tenant_apps.segments.models import Segment
from tests.conftest import client_for


def rows(response):
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


@pytest.fixture
def results_of(api, org):
    """results_of(definition, record_type="lead", client=None) saves a segment and returns its row names."""

    def run(definition, record_type="lead", client=None):
        # a manager sees every lead and deal (a rep's results are narrowed: tests/tenant_apps/access)
        client = client or api(Role.MANAGER)
        created = client.post(
            "/api/segments/",
            {"name": "s", "record_type": record_type, "definition": definition},
            format="json",
        )
        assert created.status_code == 201, created.content
        return sorted(rows(client.get(f"/api/segments/{created.json()['id']}/results/?page_size=200")))

    return run


def one(field, op, *value):
    condition = {"field": field, "op": op}
    if value:
        condition["value"] = value[0]
    return {"conditions": [condition]}


def test_lead_conditions_match_exactly_the_right_rows(results_of, make_lead, member, org):
    rep = member(role=Role.REP)
    now = timezone.now()
    make_lead(
        name="Acme Big", company="Acme Inc", value="12000.00", score=50, tags=["vip", "q4"], owner_id=rep.pk
    )
    make_lead(name="acme small", company="ACME", value="900.00", source="ads", stage=Stage.CONTACTED)
    make_lead(name="Globex", company="", value="5000.00", score=-5, stage=Stage.WON, tags=["q4"])
    with schema_context(org.schema_name):
        Lead.objects.filter(name="Acme Big").update(last_contacted_at=now - timedelta(days=40))
        Lead.objects.filter(name="acme small").update(last_contacted_at=now - timedelta(days=2))
        Lead.objects.filter(name="Globex").update(created_at=now - timedelta(days=400))
    everyone = ["Acme Big", "Globex", "acme small"]

    assert results_of({}) == everyone
    assert results_of(one("name", "eq", "Globex")) == ["Globex"]
    assert results_of(one("name", "ne", "Globex")) == ["Acme Big", "acme small"]
    assert results_of(one("name", "in", ["Globex", "Nobody"])) == ["Globex"]
    assert results_of(one("name", "contains", "cme")) == ["Acme Big", "acme small"]
    assert results_of(one("name", "contains", "acme")) == ["acme small"]
    assert results_of(one("name", "icontains", "ACME")) == ["Acme Big", "acme small"]
    assert results_of(one("name", "icontains", "%")) == []  # no LIKE wildcards from input
    assert results_of(one("company", "is_empty")) == ["Globex"]
    assert results_of(one("company", "is_empty", False)) == ["Acme Big", "acme small"]
    assert results_of(one("stage", "eq", "WON")) == ["Globex"]
    assert results_of(one("stage", "in", ["NEW", "CONTACTED"])) == ["Acme Big", "acme small"]
    assert results_of(one("source", "ne", "ads")) == ["Acme Big", "Globex"]
    assert results_of(one("value", "gt", 5000)) == ["Acme Big"]
    assert results_of(one("value", "gte", 5000)) == ["Acme Big", "Globex"]
    assert results_of(one("value", "lt", 5000)) == ["acme small"]
    assert results_of(one("value", "lte", 900)) == ["acme small"]
    assert results_of(one("value", "between", [900, 5000])) == ["Globex", "acme small"]
    assert results_of(one("value", "in", [900, 12000])) == ["Acme Big", "acme small"]
    assert results_of(one("value", "eq", 900.0)) == ["acme small"]
    assert results_of(one("score", "lt", 0)) == ["Globex"]
    assert results_of(one("tags", "has_tag", "VIP")) == ["Acme Big"]
    assert results_of(one("tags", "has_tag", "q4")) == ["Acme Big", "Globex"]
    assert results_of(one("tags", "is_empty")) == ["acme small"]
    assert results_of(one("owner", "eq", rep.pk)) == ["Acme Big"]
    assert results_of(one("owner", "ne", rep.pk)) == ["Globex", "acme small"]
    assert results_of(one("owner", "is_empty")) == ["Globex", "acme small"]
    assert results_of(one("last_contacted_at", "older_than_days", 30)) == ["Acme Big"]
    assert results_of(one("last_contacted_at", "newer_than_days", 30)) == ["acme small"]
    assert results_of(one("last_contacted_at", "is_empty")) == ["Globex"]
    assert results_of(one("created_at", "older_than_days", 365)) == ["Globex"]
    today = timezone.localdate().isoformat()
    assert results_of(one("created_at", "eq", today)) == ["Acme Big", "acme small"]
    assert results_of(one("created_at", "lt", today)) == ["Globex"]
    assert results_of(one("created_at", "lte", today)) == everyone
    assert results_of(one("created_at", "gt", (now - timedelta(days=1)).isoformat())) == [
        "Acme Big",
        "acme small",
    ]
    assert (
        results_of(one("created_at", "between", [(now - timedelta(days=500)).date().isoformat(), today]))
        == everyone
    )

    two = [{"field": "stage", "op": "eq", "value": "NEW"}, {"field": "tags", "op": "has_tag", "value": "q4"}]
    assert results_of({"match": "all", "conditions": two}) == ["Acme Big"]
    assert results_of({"match": "any", "conditions": two}) == ["Acme Big", "Globex"]


def test_is_me_resolves_for_whoever_reads_a_shared_segment(make_lead, member, org):
    alice, bob = member(role=Role.REP), member(role=Role.REP)
    make_lead(name="alice's", owner_id=alice.pk)
    make_lead(name="bob's", owner_id=bob.pk)
    alice_client, bob_client = client_for(org, alice), client_for(org, bob)
    segment = alice_client.post(
        "/api/segments/",
        {"name": "mine", "record_type": "lead", "definition": one("owner", "is_me"), "shared": True},
        format="json",
    ).json()
    assert rows(alice_client.get(f"/api/segments/{segment['id']}/results/")) == ["alice's"]
    assert rows(bob_client.get(f"/api/segments/{segment['id']}/results/")) == ["bob's"]


def test_relative_dates_resolve_at_read_time(make_lead, admin, in_org):
    lead = make_lead(name="quiet")
    Lead.objects.filter(pk=lead.pk).update(last_contacted_at=timezone.now() - timedelta(days=20))
    segment = services.segment_create(
        actor=admin,
        name="stale",
        record_type="lead",
        definition=one("last_contacted_at", "older_than_days", 30),
    )
    assert list(selectors.segment_results(segment=segment, actor=admin)) == []
    later = timezone.now() + timedelta(days=11)
    assert list(selectors.segment_results(segment=segment, actor=admin, now=later)) == [lead]


def test_relative_periods_and_windows_in_a_custom_segment(results_of, make_record, make_lead, org):
    today = timezone.localdate()
    first, last = quarter_of(today)
    for name, day in [
        ("quarter's first day", first),
        ("quarter's last day", last),
        ("day before the quarter", first - timedelta(days=1)),
        ("day after the quarter", last + timedelta(days=1)),
        ("no date", None),
    ]:
        make_record("opportunity", name=name, expected_close_date=day)
    assert results_of(one("expected_close_date", "in_period", "this_quarter"), "opportunity") == [
        "quarter's first day",
        "quarter's last day",
    ]
    assert results_of(one("expected_close_date", "in_period", "last_quarter"), "opportunity") == [
        "day before the quarter"
    ]
    make_lead(name="a week ago")
    make_lead(name="a year ago")
    make_lead(name="never")
    with schema_context(org.schema_name):
        now = timezone.now()
        Lead.objects.filter(name="a week ago").update(last_contacted_at=now - timedelta(days=7))
        Lead.objects.filter(name="a year ago").update(last_contacted_at=now - timedelta(days=365))
    assert results_of(one("last_contacted_at", "in_last_days", 30)) == ["a week ago"]
    assert results_of(one("last_contacted_at", "in_next_days", 30)) == []
    assert results_of(one("created_at", "in_period", "today")) == ["a week ago", "a year ago", "never"]


def test_a_saved_period_is_resolved_against_now_when_read(make_lead, admin, in_org):
    lead = make_lead(name="contacted on the last day of March")
    Lead.objects.filter(pk=lead.pk).update(last_contacted_at=datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    segment = services.segment_create(
        actor=admin,
        name="this quarter",
        record_type="lead",
        definition=one("last_contacted_at", "in_period", "this_quarter"),
    )
    assert segment.definition["conditions"][0]["value"] == "this_quarter"  # kept relative, not as dates
    march, april = datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    assert list(selectors.segment_results(segment=segment, actor=admin, now=march)) == [lead]
    assert list(selectors.segment_results(segment=segment, actor=admin, now=april)) == []


def test_other_record_types(results_of, make_record):
    acme = make_record("account", name="Acme", status="customer", size="51-200", industry="Steel")
    make_record("account", name="Initech", status="prospect")
    make_record("contact", name="Jane", account=acme, title="CTO")
    make_record("contact", name="Loner")
    today = timezone.localdate()
    make_record(
        "opportunity", name="Renewal", account=acme, amount=Decimal("15000"), expected_close_date=today
    )
    make_record("opportunity", name="Pilot", account=acme, amount=Decimal("800"), stage="PROPOSAL")

    assert results_of(one("status", "in", ["customer", "partner"]), "account") == ["Acme"]
    assert results_of(one("size", "is_empty"), "account") == ["Initech"]
    assert results_of(one("industry", "icontains", "steel"), "account") == ["Acme"]
    assert results_of(one("account", "eq", acme.pk), "contact") == ["Jane"]
    assert results_of(one("account", "is_empty"), "contact") == ["Loner"]
    assert results_of(one("account", "eq", acme.pk), "opportunity") == ["Pilot", "Renewal"]
    assert results_of(one("amount", "gte", 10000), "opportunity") == ["Renewal"]
    assert results_of(one("expected_close_date", "eq", today.isoformat()), "opportunity") == ["Renewal"]
    assert results_of(one("expected_close_date", "is_empty"), "opportunity") == ["Pilot"]
    assert results_of(one("expected_close_date", "newer_than_days", 0), "opportunity") == ["Renewal"]
    assert results_of(one("stage", "eq", "PROPOSAL"), "opportunity") == ["Pilot"]


@pytest.mark.parametrize("kind", ["lead", "contact", "account", "opportunity"])
def test_deleted_and_merged_records_never_appear(results_of, make_record, org, kind):
    alive, deleted, merged = (make_record(kind, name=name) for name in ("alive", "deleted", "merged"))
    with schema_context(org.schema_name):
        model = type(alive).objects
        model.filter(pk=deleted.pk).update(deleted_at=timezone.now())
        model.filter(pk=merged.pk).update(merged_into=alive.pk, merged_at=timezone.now())
    assert results_of({}, kind) == ["alive"]
    assert results_of(one("name", "ne", "nobody"), kind) == ["alive"]


def test_results_are_cursor_paginated_with_the_count_of_all_matches(api, make_lead):
    for index in range(7):
        make_lead(name=f"match {index}", tags=["hit"])
    make_lead(name="miss")
    client = api(Role.REP)
    segment = client.post(
        "/api/segments/",
        {"name": "hits", "record_type": "lead", "definition": one("tags", "has_tag", "hit")},
        format="json",
    ).json()
    seen, url = [], f"/api/segments/{segment['id']}/results/?page_size=3&ordering=name"
    while url:
        page = client.get(url).json()
        assert page["count"] == 7
        assert len(page["results"]) <= 3
        seen += [row["name"] for row in page["results"]]
        url = page["next"]
    assert seen == [f"match {index}" for index in range(7)]
    row = client.get(f"/api/segments/{segment['id']}/results/?page_size=1").json()["results"][0]
    assert set(row) == {
        "id",
        "name",
        "owner",
        "tags",
        "created_at",
        "updated_at",
        "email",
        "company",
        "source",
        "stage",
        "value",
        "currency",
        "score",
        "last_contacted_at",
    }
    assert client.get(f"/api/segments/{segment['id']}/results/?ordering=value").status_code == 400
    assert client.get(f"/api/segments/{segment['id']}/results/?cursor=nope").status_code == 400


@pytest.mark.parametrize("kind", ["lead", "contact", "account", "opportunity"])
def test_results_cost_the_same_queries_whatever_the_page_size(api, make_record, member, kind):
    owners = [member(role=Role.REP) for _ in range(3)]
    for index in range(12):
        make_record(kind, owner_id=owners[index % 3].pk, tags=["x"])
    client = api(Role.MANAGER)  # sees the three reps' records
    definition = {
        "match": "all",
        "conditions": [
            {"field": "tags", "op": "has_tag", "value": "x"},
            {"field": "owner", "op": "is_empty", "value": False},
        ],
    }
    segment = client.post(
        "/api/segments/", {"name": "s", "record_type": kind, "definition": definition}, format="json"
    ).json()
    url = f"/api/segments/{segment['id']}/results/"
    client.get(f"{url}?page_size=1")  # warm routing cache and token last_used_at
    counts = []
    for size in (2, 12):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{url}?page_size={size}")
        assert len(response.json()["results"]) == size
        assert response.json()["count"] == 12
        counts.append(len(queries))
        assert sum("COUNT(" in query["sql"] for query in queries.captured_queries) == 1
    # search_path, token, segment, page, count
    assert counts[0] == counts[1] <= 5, counts


def test_an_outdated_saved_definition_is_a_conflict_not_a_crash(api, admin, org):
    client = api(Role.ADMIN)
    with schema_context(org.schema_name):
        segment = Segment.objects.create(
            name="old",
            record_type="lead",
            shared=True,
            owner=admin,
            definition={"conditions": [{"field": "legacy_rating", "op": "gt", "value": 3}]},
        )
    response = client.get(f"/api/segments/{segment.pk}/results/")
    assert response.status_code == 409
    assert response.json()["code"] == "segment_outdated"


@pytest.mark.parametrize(
    ("record_type", "list_path"),
    [
        ("lead", "/api/leads/"),
        ("account", "/api/accounts/"),
        ("contact", "/api/contacts/"),
        ("opportunity", "/api/opportunities/"),
    ],
)
def test_a_results_row_shows_the_owner_as_the_record_lists_do(
    record_type, list_path, api, make_record, member, org
):
    owner = member(role=Role.REP)
    record = make_record(record_type, owner_id=owner.pk)
    make_record(record_type)  # one without an owner
    client = api(Role.MANAGER)
    created = client.post(
        "/api/segments/", {"name": "all", "record_type": record_type, "definition": {}}, format="json"
    )
    assert created.status_code == 201, created.content
    url = f"/api/segments/{created.json()['id']}/results/?page_size=200"

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(3):
        make_record(record_type, owner_id=member(role=Role.REP).pk)
    with CaptureQueriesContext(connection) as more:
        results = client.get(url).json()["results"]
    assert len(more) == len(few)  # the owners are joined, not read one per row

    listed = {row["id"]: row["owner"] for row in client.get(f"{list_path}?page_size=200").json()["results"]}
    assert {row["id"]: row["owner"] for row in results} == listed
    assert listed[record.pk] == {"id": owner.pk, "email": owner.email, "full_name": owner.full_name}
    assert None in listed.values()
