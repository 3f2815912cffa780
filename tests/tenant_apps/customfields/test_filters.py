"""?custom.<key>= list filters (and ranges), served by the per-field index (EXPLAIN); segments and rule
conditions name custom fields as `custom.<key>` in the one filter language."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.customfields.models import CustomField
from tenant_apps.filtering.language import RULES, SEGMENTS, clean_definition, conditions_hold, conditions_q
from tenant_apps.leads.models import Lead

URL = "/api/custom-fields/"


def _define(client, **body):
    body = {"record_type": "lead", "type": "text", "label": body["key"].title(), "filterable": True, **body}
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _lead(client, name, **custom):
    response = client.post("/api/leads/", {"name": name, "custom": custom}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _names(client, query):
    response = client.get(f"/api/leads/?{query}")
    assert response.status_code == 200, (query, response.content)
    return sorted(row["name"] for row in response.json()["results"])


def test_list_filters_on_every_filterable_type(org, api):
    admin = api(Role.ADMIN)
    _define(admin, key="region")
    _define(admin, key="budget", type="number")
    _define(admin, key="deal", type="money")
    _define(admin, key="renewal", type="date")
    _define(admin, key="seen", type="datetime")
    _define(admin, key="vip", type="boolean")
    tier = _define(admin, key="tier", type="single_select", options=["Gold", "Silver"])
    _define(admin, key="topics", type="multi_select", options=["A", "B"])
    _lead(
        admin,
        "one",
        region="EU",
        budget=5,
        deal={"amount": 100},
        renewal="2026-01-10",
        seen="2026-01-10T10:00:00Z",
        vip=True,
        tier="Gold",
        topics=["A", "B"],
    )
    _lead(
        admin,
        "two",
        region="US",
        budget="50.5",
        deal={"amount": "2000"},
        renewal="2026-03-01",
        seen="2026-03-01T23:30:00Z",
        vip=False,
        tier="Silver",
        topics=["B"],
    )
    _lead(admin, "three")
    assert _names(admin, "custom.region=EU") == ["one"]
    assert _names(admin, "custom.region=none") == ["three"]
    assert _names(admin, "custom.budget_min=6") == ["two"]
    assert _names(admin, "custom.budget_max=50.5") == ["one", "two"]
    assert _names(admin, "custom.budget=5") == ["one"]
    assert _names(admin, "custom.deal_min=1000") == ["two"]
    assert _names(admin, "custom.renewal_after=2026-02-01") == ["two"]
    assert _names(admin, "custom.renewal_before=2026-03-01") == ["one"]
    assert _names(admin, "custom.seen_after=2026-03-01T23:00:00Z") == ["two"]
    assert _names(admin, "custom.seen_before=2026-02-01") == ["one"]
    assert _names(admin, "custom.vip=true") == ["one"]
    assert _names(admin, "custom.tier=silver") == ["two"]
    assert _names(admin, f"custom.tier={tier['options'][0]['id']},Silver") == ["one", "two"]
    assert _names(admin, "custom.topics=A") == ["one"]
    assert _names(admin, "custom.topics=B") == ["one", "two"]
    assert _names(admin, "custom.region=EU&custom.budget_max=10") == ["one"]


def test_bad_filters_are_400_naming_the_parameter(org, api):
    admin = api(Role.ADMIN)
    _define(admin, key="budget", type="number")
    _define(admin, key="hidden", filterable=False)
    _define(admin, key="tier", type="single_select", options=["Gold"])
    for query, field in [
        ("custom.nope=1", "custom.nope"),
        ("custom.hidden=x", "custom.hidden"),
        ("custom.budget_min=lots", "custom.budget_min"),
        ("custom.budget_after=2026-01-01", "custom.budget_after"),
        ("custom.tier=Bronze", "custom.tier"),
    ]:
        response = admin.get(f"/api/leads/?{query}")
        assert response.status_code == 400, (query, response.content)
        assert field in response.json()["errors"], (query, response.json())


def test_contacts_accounts_and_deals_filter_too(org, api):
    admin = api(Role.ADMIN)
    _define(admin, key="region", record_type="contact")
    admin.post("/api/contacts/", {"name": "EU one", "custom": {"region": "EU"}}, format="json")
    admin.post("/api/contacts/", {"name": "US one", "custom": {"region": "US"}}, format="json")
    rows = admin.get("/api/contacts/?custom.region=EU").json()["results"]
    assert [row["name"] for row in rows] == ["EU one"]


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_filters_use_the_fields_index(org, api, run_jobs, django_capture_on_commit_callbacks):
    """The list filter, a segment condition and a multi select's containment all use the per-field index
    (built by the job; the planner is kept off sequential scans, as a large table would make it)."""
    admin = api(Role.ADMIN)
    with django_capture_on_commit_callbacks(execute=True):
        budget = _define(admin, key="budget", type="number")
        renewal = _define(admin, key="renewal", type="date")
        topics = _define(admin, key="topics", type="multi_select", options=["A", "B"])
    run_jobs()
    _lead(admin, "one", budget=5, renewal="2026-01-01", topics=["A"])
    from tenant_apps.customfields.filters import custom_filter_q

    with schema_context(org.schema_name):
        index = {
            field["key"]: CustomField.objects.get(pk=field["id"]).index_name
            for field in (budget, renewal, topics)
        }
        for params, key in [
            ({"custom.budget_min": "3"}, "budget"),
            ({"custom.budget": "5"}, "budget"),
            ({"custom.renewal_after": "2025-12-01"}, "renewal"),
            ({"custom.topics": "A"}, "topics"),
        ]:
            plan = _plan(Lead.objects.filter(custom_filter_q("lead", params)))
            assert index[key] in plan, (params, plan)
        definition = clean_definition(
            {"conditions": [{"field": "custom.budget", "op": "gte", "value": 3}]},
            dialect=SEGMENTS,
            record_type="lead",
        )
        query = conditions_q(
            definition["conditions"], match="all", dialect=SEGMENTS, record_type="lead", now=timezone.now()
        )
        assert index["budget"] in _plan(Lead.objects.filter(query))
        assert Lead.objects.filter(query).count() == 1


def test_segment_and_rule_conditions_name_custom_fields(org, api):
    admin = api(Role.ADMIN)
    _define(admin, key="budget", type="number")
    _define(admin, key="region")
    _define(admin, key="renewal", type="date")
    _define(admin, key="seen", type="datetime")
    _define(admin, key="tier", type="single_select", options=["Gold", "Silver"])
    _define(admin, key="topics", type="multi_select", options=["A", "B"])
    gold = admin.get(URL).json()[4]["options"][0]["id"]
    one = _lead(
        admin,
        "one",
        budget=5,
        region="EU",
        renewal="2026-01-10",
        seen="2026-01-10T10:00:00Z",
        tier="Gold",
        topics=["A"],
    )
    _lead(admin, "two", budget=50, region="US")
    cases = [
        ({"field": "custom.budget", "op": "lt", "value": 10}, ["one"]),
        ({"field": "custom.budget", "op": "between", "value": [1, 100]}, ["one", "two"]),
        ({"field": "custom.region", "op": "icontains", "value": "e"}, ["one"]),
        ({"field": "custom.renewal", "op": "lte", "value": "2026-01-10"}, ["one"]),
        ({"field": "custom.seen", "op": "eq", "value": "2026-01-10"}, ["one"]),
        ({"field": "custom.tier", "op": "eq", "value": gold}, ["one"]),
        ({"field": "custom.topics", "op": "has_tag", "value": "a"}, []),  # option ids, not labels
        ({"field": "custom.renewal", "op": "is_empty", "value": True}, ["two"]),
    ]
    with schema_context(org.schema_name):
        topic_a = CustomField.objects.get(key="topics").options[0]["id"]
        cases.append(({"field": "custom.topics", "op": "has_tag", "value": topic_a}, ["one"]))
        now = timezone.now()
        for condition, expected in cases:
            definition = clean_definition({"conditions": [condition]}, dialect=SEGMENTS, record_type="lead")
            query = conditions_q(
                definition["conditions"], match="all", dialect=SEGMENTS, record_type="lead", now=now
            )
            found = sorted(Lead.objects.filter(query).values_list("name", flat=True))
            assert found == expected, (condition, found)
            for lead in Lead.objects.all():  # the check in memory agrees with the query
                holds = conditions_hold(
                    definition["conditions"], lead, match="all", dialect=SEGMENTS, record_type="lead", now=now
                )
                assert holds == (lead.name in expected), (condition, lead.name)
        rule = clean_definition(
            {"conditions": [{"field": "custom.region", "op": "eq", "value": "eu"}]},
            dialect=RULES,
            record_type="lead",
        )
        lead = Lead.objects.get(pk=one["id"])
        assert conditions_hold(
            rule["conditions"], lead, match="all", dialect=RULES, record_type="lead", now=now
        )


def test_conditions_on_a_deleted_field_match_nothing(org, api):
    admin = api(Role.ADMIN)
    field = _define(admin, key="region")
    _lead(admin, "one", region="EU")
    with schema_context(org.schema_name):
        definition = clean_definition(
            {"conditions": [{"field": "custom.region", "op": "eq", "value": "EU"}]},
            dialect=SEGMENTS,
            record_type="lead",
        )
    admin.delete(f"{URL}{field['id']}/")
    with schema_context(org.schema_name):
        query = conditions_q(
            definition["conditions"], match="all", dialect=SEGMENTS, record_type="lead", now=timezone.now()
        )
        assert not Lead.objects.filter(query).exists()
