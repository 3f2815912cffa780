import itertools
import json

import pytest
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.segments.models import Segment


def post(client, definition, record_type="lead", **fields):
    body = {"name": "s", "record_type": record_type, "definition": definition, **fields}
    return client.post("/api/segments/", body, format="json")


def cond(field, op, *value):
    condition = {"field": field, "op": op}
    if value:
        condition["value"] = value[0]
    return {"conditions": [condition]}


def test_the_error_names_the_offending_condition(api, org):
    definition = {
        "match": "all",
        "conditions": [
            {"field": "stage", "op": "eq", "value": "NEW"},
            {"field": "foo", "op": "eq", "value": 1},
        ],
    }
    response = post(api(Role.REP), definition)
    assert response.status_code == 400
    assert response.json()["errors"] == {"conditions": ["#2: unknown field 'foo' for lead"]}
    with schema_context(org.schema_name):
        assert not Segment.objects.exists()


@pytest.mark.parametrize(
    ("definition", "field", "message"),
    [
        ("stage = NEW", "definition", "Expected a JSON object."),
        ([], "definition", "Expected a JSON object."),
        ({"match": "all", "where": []}, "definition", "Unknown key 'where'"),
        ({"match": "some", "conditions": []}, "match", 'Expected "all" or "any".'),
        ({"conditions": {"field": "stage"}}, "conditions", "Expected a list"),
        ({"conditions": [cond("name", "is_empty")["conditions"][0]] * 51}, "conditions", "At most 50"),
        ({"conditions": ["stage = NEW"]}, "conditions", "#1: expected an object"),
        (
            {"conditions": [{"field": "stage", "op": "eq", "value": "NEW", "sql": "1=1"}]},
            "conditions",
            "#1: unknown key 'sql'",
        ),
        (cond("amount", "gt", 5), "conditions", "#1: unknown field 'amount' for lead"),
        (cond(["stage"], "eq", "NEW"), "conditions", "#1: unknown field ['stage'] for lead"),
        (cond("stage; drop table", "eq", "NEW"), "conditions", "#1: unknown field"),
        (cond("owner__email", "eq", "x"), "conditions", "#1: unknown field"),
        (cond("stage", "like", "NEW"), "conditions", "#1: unknown operator 'like' for stage (choice)"),
        (cond("stage", "contains", "NE"), "conditions", "#1: unknown operator 'contains'"),
        (cond("stage", "regex", ".*"), "conditions", "#1: unknown operator"),
        (cond("value", "is_empty"), "conditions", "#1: unknown operator 'is_empty' for value (number)"),
        (cond("tags", "eq", "vip"), "conditions", "#1: unknown operator 'eq' for tags"),
        (cond("name", "is_me"), "conditions", "#1: unknown operator 'is_me'"),
        (cond("stage", "eq"), "conditions", "#1: stage eq needs a value"),
        (cond("value", "gt", "100"), "conditions", "#1: value gt expects a number"),
        (cond("value", "gt", True), "conditions", "#1: value gt expects a number"),
        (cond("value", "gt", 1e20), "conditions", "#1: value gt expects a number between"),
        (cond("value", "gt", 10**400), "conditions", "#1: value gt expects a number between"),
        (cond("score", "eq", 1.5), "conditions", "#1: score eq expects an integer"),
        (cond("stage", "eq", "DONE"), "conditions", "#1: stage eq expects one of NEW, CONTACTED"),
        (cond("stage", "eq", "new"), "conditions", "#1: stage eq expects one of"),
        (cond("stage", "in", "NEW"), "conditions", "#1: stage in expects a list of 1 to 100 choices"),
        (cond("stage", "in", []), "conditions", "#1: stage in expects a list"),
        (cond("name", "in", ["x"] * 101), "conditions", "#1: name in expects a list of 1 to 100"),
        (cond("stage", "in", ["NEW", 3]), "conditions", "#1: stage in expects one of"),
        (
            cond("value", "between", [1, 2, 3]),
            "conditions",
            "#1: value between expects a list of two numbers",
        ),
        (cond("value", "between", [10, 1]), "conditions", "with the low one first"),
        (
            cond("created_at", "between", ["2030-02-01", "2030-01-01T00:00:00Z"]),
            "conditions",
            "low one first",
        ),
        (cond("created_at", "gt", "yesterday"), "conditions", "#1: created_at gt expects an ISO date"),
        (cond("created_at", "gt", "2030-02-30"), "conditions", "#1: created_at gt expects an ISO date"),
        (cond("created_at", "gt", "2030-01-01T25:00:00"), "conditions", "expects an ISO date"),
        (cond("created_at", "gt", "0001-01-01T00:00:00+14:00"), "conditions", "expects an ISO date"),
        (cond("created_at", "gt", 20300101), "conditions", "expects an ISO date"),
        (cond("last_contacted_at", "older_than_days", -1), "conditions", "a number of days between 0"),
        (cond("last_contacted_at", "older_than_days", "30"), "conditions", "a number of days"),
        (cond("last_contacted_at", "newer_than_days", 100_000), "conditions", "a number of days"),
        (cond("last_contacted_at", "newer_than_days", 1.5), "conditions", "a number of days"),
        (
            cond("created_at", "in_period", "last_30_days"),
            "conditions",
            "#1: created_at in_period expects a period: one of yesterday, today, tomorrow, last_week",
        ),
        (cond("created_at", "in_period", "This_Quarter"), "conditions", "expects a period"),
        (cond("created_at", "in_period"), "conditions", "#1: created_at in_period needs a value"),
        (cond("last_contacted_at", "in_last_days", -1), "conditions", "#1: last_contacted_at in_last_days"),
        (cond("last_contacted_at", "in_next_days", "30"), "conditions", "a number of days between 0"),
        (cond("tags", "has_tag", ""), "conditions", "#1: tags has_tag expects a tag of 1 to 50"),
        (cond("tags", "has_tag", "x" * 51), "conditions", "a tag of 1 to 50"),
        (cond("tags", "has_tag", ["vip"]), "conditions", "a tag (a string)"),
        (cond("owner", "is_me", False), "conditions", "#1: owner is_me expects true"),
        (cond("owner", "eq", "me"), "conditions", "#1: owner eq expects an id"),
        (cond("owner", "eq", 0), "conditions", "an id"),
        (cond("owner", "in", [1, 2**63]), "conditions", "an id"),
        (cond("name", "contains", ""), "conditions", "a non-empty string"),
        (cond("name", "eq", "x" * 201), "conditions", "a string of at most 200"),
        (cond("name", "eq", 5), "conditions", "a string"),
        (cond("last_contacted_at", "is_empty", "yes"), "conditions", "true or false"),
        (cond("name", "eq", "nul\x00"), "definition", "NUL"),
        ({"conditions": [{"field": "name", "op": "eq", "value": "x" * 10_000}] * 5}, "definition", "bytes"),
    ],
)
def test_bad_definitions_are_400_naming_what_to_fix(api, definition, field, message):
    response = post(api(Role.REP), definition)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert message in errors[field][0], errors


@pytest.mark.parametrize(
    ("record_type", "definition", "message"),
    [
        (
            "opportunity",
            cond("expected_close_date", "gt", "2030-01-01T00:00:00Z"),
            "expects an ISO date (YYYY-MM-DD)",
        ),
        ("opportunity", cond("source", "eq", "web"), "unknown field 'source' for opportunity"),
        ("opportunity", cond("account", "is_empty"), "unknown operator 'is_empty' for account"),
        ("account", cond("status", "eq", "PROSPECT"), "status eq expects one of prospect, customer"),
        ("account", cond("size", "eq", ""), "size eq expects one of"),
        ("contact", cond("account", "eq", "acme"), "account eq expects an id"),
        ("contact", cond("stage", "eq", "NEW"), "unknown field 'stage' for contact"),
    ],
)
def test_fields_and_types_are_per_record_type(api, record_type, definition, message):
    response = post(api(Role.REP), definition, record_type=record_type)
    assert response.status_code == 400
    assert message in response.json()["errors"]["conditions"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"record_type": "task"}, "record_type"),
        ({"record_type": None}, "record_type"),
        ({"name": ""}, "name"),
        ({"name": 12}, "name"),
        ({"name": "nul\x00"}, "name"),
        ({"shared": "maybe"}, "shared"),
        ({"owner": 1}, "owner"),
    ],
)
def test_bad_segment_fields_are_400(api, body, field):
    response = api(Role.REP).post(
        "/api/segments/", {"name": "s", "record_type": "lead", "definition": {}, **body}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_non_json_numbers_and_malformed_json_are_400(api):
    client = api(Role.REP)
    prefix = '{"name": "s", "record_type": "lead", "definition": {"conditions": '
    for raw in (
        prefix + '[{"field": "value", "op": "gt", "value": NaN}]}}',
        prefix + '[{"field": "value", "op": "gt", "value": Infinity}]}}',
        prefix + '[{"field": "value", "op": "gt", "value": 1' + "0" * 5000 + "}]}}",
        '{"name": "s", "record_type": ',
    ):
        assert client.post("/api/segments/", raw, content_type="application/json").status_code == 400


def test_a_valid_definition_is_saved_normalized(api, member):
    rep = member(role=Role.REP)
    definition = {
        "match": "any",
        "conditions": [
            {"field": "stage", "op": "in", "value": ["NEW", "CONTACTED"]},
            {"field": "name", "op": "icontains", "value": "acme"},
            {"field": "value", "op": "between", "value": [1000, 5000.5]},
            {"field": "score", "op": "gte", "value": 10},
            {"field": "created_at", "op": "between", "value": ["2024-01-01", "2024-06-30T12:00:00Z"]},
            {"field": "last_contacted_at", "op": "older_than_days", "value": 30},
            {"field": "last_contacted_at", "op": "is_empty"},
            {"field": "tags", "op": "has_tag", "value": "  Key   Account "},
            {"field": "owner", "op": "is_me"},
            {"field": "owner", "op": "in", "value": [rep.pk]},
            {"field": "source", "op": "ne", "value": "ads"},
        ],
    }
    response = post(api(Role.REP), definition, shared=True)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["shared"] is True and body["can_edit"] is True
    saved = body["definition"]
    assert saved["match"] == "any"
    assert saved["conditions"][7] == {"field": "tags", "op": "has_tag", "value": "key account"}
    assert saved["conditions"][6] == {"field": "last_contacted_at", "op": "is_empty"}
    assert post(api(Role.REP), {}).json()["definition"] == {"match": "all", "conditions": []}
    without = api(Role.REP).post(
        "/api/segments/", {"name": "all leads", "record_type": "lead"}, format="json"
    )
    assert without.json()["definition"] == {"match": "all", "conditions": []}


def test_every_operator_of_every_field_type_is_accepted_with_a_good_value(api):
    from tenant_apps.filtering.fields import FIELDS, FieldType
    from tenant_apps.filtering.language import SEGMENTS

    good = {
        FieldType.STRING: {"eq": "a", "ne": "a", "in": ["a"], "contains": "a", "icontains": "a"},
        FieldType.NUMBER: {
            "eq": 1,
            "ne": 1,
            "in": [1, 2],
            "gt": 1,
            "gte": 1,
            "lt": 1,
            "lte": 1,
            "between": [1, 2],
        },
        FieldType.DATE: {
            "eq": "2030-01-01",
            "ne": "2030-01-01",
            "gt": "2030-01-01",
            "gte": "2030-01-01",
            "lt": "2030-01-01",
            "lte": "2030-01-01",
            "between": ["2030-01-01", "2030-02-01"],
        },
        FieldType.DATETIME: {
            "eq": "2030-01-01T10:00:00Z",
            "ne": "2030-01-01",
            "gt": "2030-01-01",
            "gte": "2030-01-01T10:00:00+02:00",
            "lt": "2030-01-01",
            "lte": "2030-01-01T10:00:00",
            "between": ["2030-01-01", "2030-02-01"],
        },
        FieldType.CHOICE: {},
        FieldType.TAGS: {"has_tag": "vip"},
        FieldType.OWNER: {"eq": 1, "ne": 1, "in": [1]},
        FieldType.REFERENCE: {"eq": 1, "ne": 1, "in": [1]},
    }
    client = api(Role.REP)
    for record_type, fields in FIELDS.items():
        conditions = []
        for name, spec in fields.items():
            for op in SEGMENTS.operators_for(spec):
                condition = {"field": name, "op": op}
                if op in ("older_than_days", "newer_than_days", "in_last_days", "in_next_days"):
                    condition["value"] = 7
                elif op == "in_period":
                    condition["value"] = "this_quarter"
                elif op == "is_empty":
                    condition["value"] = False
                elif spec.type == FieldType.CHOICE:
                    condition["value"] = [spec.choices[0]] if op == "in" else spec.choices[0]
                elif op != "is_me":
                    condition["value"] = good[spec.type][op]
                conditions.append(condition)
        for start, match in itertools.product(range(0, len(conditions), 50), ("all", "any")):
            definition = {"match": match, "conditions": conditions[start : start + 50]}
            response = post(client, definition, record_type=record_type)
            assert response.status_code == 201, (record_type, response.content)
            # and every one of them evaluates (into one query), whatever it matches
            results = client.get(f"/api/segments/{response.json()['id']}/results/")
            assert results.status_code == 200, (record_type, results.content)
            assert json.loads(results.content)["count"] >= 0
