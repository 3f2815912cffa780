"""The filter language itself (tenant_apps/filtering): every operator of both dialects gives the same answer
as a query and as a check in memory, values are read per field type, and bad conditions are refused naming
what to fix."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.users.models import Role, User
from tenant_apps.filtering import language
from tenant_apps.filtering.fields import FIELDS, Field, FieldType
from tenant_apps.filtering.language import RULES, SEGMENTS
from tenant_apps.leads import services as leads
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity


def clean(dialect, raw, record_type="lead"):
    return language.clean_condition(raw, dialect=dialect, record_type=record_type, prefix="conditions[0]")


def matching(dialect, raw, rows, *, record_type="lead", actor_id=None, now=None):
    """(names matched in memory, names matched by the query) for one condition."""
    now = now or timezone.now()
    condition = clean(dialect, raw, record_type)
    context = {"dialect": dialect, "record_type": record_type, "now": now, "actor_id": actor_id}
    in_python = {row.name for row in rows if language.condition_holds(condition, row, **context)}
    model = type(rows[0])
    in_sql = set(
        model.objects.filter(pk__in=[row.pk for row in rows])
        .filter(language.condition_q(condition, **context))
        .values_list("name", flat=True)
    )
    return in_python, in_sql


@pytest.fixture
def people(in_org, admin, member, make_lead):
    """Three leads and the rep who owns one of them, as stored."""
    rep = member(role=Role.REP)
    made = [
        make_lead(
            name="Acme Big",
            company="Acme GmbH",
            email="a@acme.de",
            source="ads",
            value="20000",
            tags=["vip", "q4"],
        ),
        make_lead(name="acme small", company="Initech", email="b@initech.com", source="web", value="900"),
        make_lead(name="Globex", company="", email="", source="referral", value="0", tags=["q4"]),
    ]
    leads.lead_update(lead_id=made[0].pk, actor=admin, changes={"owner_id": rep.pk})
    Lead.objects.filter(pk=made[1].pk).update(last_contacted_at=timezone.now() - timedelta(days=10), score=7)
    return rep, list(Lead.objects.filter(pk__in=[lead.pk for lead in made]).order_by("pk"))


EVERYONE = {"Acme Big", "acme small", "Globex"}

# (dialect, condition, leads it matches); `REP` stands for the rep's id
REP = object()
CASES = [
    # strings: exact in segments (icontains ignores case), without regard to case in rules
    (SEGMENTS, {"field": "name", "op": "eq", "value": "Globex"}, {"Globex"}),
    (SEGMENTS, {"field": "name", "op": "eq", "value": "globex"}, set()),
    (SEGMENTS, {"field": "name", "op": "ne", "value": "Globex"}, {"Acme Big", "acme small"}),
    (SEGMENTS, {"field": "name", "op": "in", "value": ["Globex", "acme small"]}, {"Globex", "acme small"}),
    (SEGMENTS, {"field": "name", "op": "contains", "value": "acme"}, {"acme small"}),
    (SEGMENTS, {"field": "name", "op": "icontains", "value": "ACME"}, {"Acme Big", "acme small"}),
    (SEGMENTS, {"field": "name", "op": "icontains", "value": "%"}, set()),
    (SEGMENTS, {"field": "company", "op": "is_empty"}, {"Globex"}),
    (SEGMENTS, {"field": "company", "op": "is_empty", "value": False}, {"Acme Big", "acme small"}),
    (RULES, {"field": "name", "op": "eq", "value": "globex"}, {"Globex"}),
    (RULES, {"field": "name", "op": "ne", "value": "GLOBEX"}, {"Acme Big", "acme small"}),
    (RULES, {"field": "name", "op": "in", "value": ["ACME BIG", "nobody"]}, {"Acme Big"}),
    (RULES, {"field": "name", "op": "not_in", "value": ["acme big"]}, {"acme small", "Globex"}),
    (RULES, {"field": "name", "op": "contains", "value": "ACME"}, {"Acme Big", "acme small"}),
    (RULES, {"field": "company", "op": "not_contains", "value": "gmbh"}, {"acme small", "Globex"}),
    (RULES, {"field": "company", "op": "starts_with", "value": "ini"}, {"acme small"}),
    (RULES, {"field": "email", "op": "ends_with", "value": "@ACME.DE"}, {"Acme Big"}),
    (RULES, {"field": "company", "op": "is_empty"}, {"Globex"}),
    (RULES, {"field": "company", "op": "is_not_empty"}, {"Acme Big", "acme small"}),
    # choices
    (SEGMENTS, {"field": "source", "op": "eq", "value": "ads"}, {"Acme Big"}),
    (SEGMENTS, {"field": "source", "op": "ne", "value": "ads"}, {"acme small", "Globex"}),
    (SEGMENTS, {"field": "source", "op": "in", "value": ["web", "referral"]}, {"acme small", "Globex"}),
    (RULES, {"field": "source", "op": "eq", "value": "ADS"}, {"Acme Big"}),
    (RULES, {"field": "source", "op": "not_in", "value": ["web"]}, {"Acme Big", "Globex"}),
    # numbers (exact decimals; rules also read them from strings)
    (SEGMENTS, {"field": "value", "op": "eq", "value": 900.0}, {"acme small"}),
    (SEGMENTS, {"field": "value", "op": "in", "value": [0, 900]}, {"acme small", "Globex"}),
    (SEGMENTS, {"field": "value", "op": "gt", "value": 900}, {"Acme Big"}),
    (SEGMENTS, {"field": "value", "op": "gte", "value": 900}, {"Acme Big", "acme small"}),
    (SEGMENTS, {"field": "value", "op": "lt", "value": 900}, {"Globex"}),
    (SEGMENTS, {"field": "value", "op": "lte", "value": 900}, {"acme small", "Globex"}),
    (SEGMENTS, {"field": "value", "op": "between", "value": [1, 20000]}, {"Acme Big", "acme small"}),
    (SEGMENTS, {"field": "score", "op": "ne", "value": 7}, {"Acme Big", "Globex"}),
    (RULES, {"field": "value", "op": "eq", "value": "900.00"}, {"acme small"}),
    (RULES, {"field": "value", "op": "gt", "value": "0.1"}, {"Acme Big", "acme small"}),
    (RULES, {"field": "score", "op": "between", "value": ["1", 7]}, {"acme small"}),
    (RULES, {"field": "score", "op": "gte", "value": 7}, {"acme small"}),
    (RULES, {"field": "value", "op": "lt", "value": "900"}, {"Globex"}),
    (RULES, {"field": "value", "op": "lte", "value": "900"}, {"acme small", "Globex"}),
    # tags
    (SEGMENTS, {"field": "tags", "op": "has_tag", "value": "VIP"}, {"Acme Big"}),
    (SEGMENTS, {"field": "tags", "op": "is_empty"}, {"acme small"}),
    (RULES, {"field": "tags", "op": "contains", "value": " Q4 "}, {"Acme Big", "Globex"}),
    (RULES, {"field": "tags", "op": "not_contains", "value": "vip"}, {"acme small", "Globex"}),
    (RULES, {"field": "tags", "op": "is_not_empty"}, {"Acme Big", "Globex"}),
    # owners (members): is_me resolves against whoever reads
    (SEGMENTS, {"field": "owner", "op": "is_me"}, {"Acme Big"}),
    (SEGMENTS, {"field": "owner", "op": "eq", "value": REP}, {"Acme Big"}),
    (SEGMENTS, {"field": "owner", "op": "in", "value": [REP]}, {"Acme Big"}),
    (SEGMENTS, {"field": "owner", "op": "is_empty"}, {"acme small", "Globex"}),
    (RULES, {"field": "owner", "op": "ne", "value": REP}, {"acme small", "Globex"}),
    (RULES, {"field": "owner", "op": "eq", "value": None}, {"acme small", "Globex"}),
    (RULES, {"field": "owner", "op": "in", "value": [None, REP]}, EVERYONE),
    (RULES, {"field": "owner", "op": "not_in", "value": [REP]}, {"acme small", "Globex"}),
    (RULES, {"field": "owner", "op": "is_not_empty"}, {"Acme Big"}),
    # datetimes: absolute (a date compares calendar days) and relative to now
    (SEGMENTS, {"field": "last_contacted_at", "op": "older_than_days", "value": 5}, {"acme small"}),
    (SEGMENTS, {"field": "last_contacted_at", "op": "newer_than_days", "value": 5}, set()),
    (SEGMENTS, {"field": "last_contacted_at", "op": "is_empty"}, {"Acme Big", "Globex"}),
    (RULES, {"field": "last_contacted_at", "op": "newer_than_days", "value": 11}, {"acme small"}),
    (RULES, {"field": "last_contacted_at", "op": "is_not_empty"}, {"acme small"}),
    (RULES, {"field": "created_at", "op": "older_than_days", "value": 1}, set()),
]


def _resolve(value, rep_id):
    if isinstance(value, list):
        return [_resolve(item, rep_id) for item in value]
    return rep_id if value is REP else value


def test_every_operator_answers_alike_in_memory_and_as_a_query(people):
    rep, rows = people
    for dialect, raw, expected in CASES:
        if "value" in raw:
            raw = {**raw, "value": _resolve(raw["value"], rep.pk)}
        assert matching(dialect, raw, rows, actor_id=rep.pk) == (expected, expected), (dialect.name, raw)


def test_dates_compare_by_calendar_day_or_instant(people):
    _, rows = people
    today = timezone.localdate()
    tomorrow = (today + timedelta(days=1)).isoformat()
    for raw, expected in [
        ({"field": "created_at", "op": "eq", "value": today.isoformat()}, EVERYONE),
        ({"field": "created_at", "op": "ne", "value": today.isoformat()}, set()),
        ({"field": "created_at", "op": "lt", "value": tomorrow}, EVERYONE),
        ({"field": "created_at", "op": "gte", "value": tomorrow}, set()),
        ({"field": "created_at", "op": "gt", "value": "2000-01-01T00:00:00Z"}, EVERYONE),
        ({"field": "created_at", "op": "lte", "value": "2000-01-01T00:00:00Z"}, set()),
        ({"field": "created_at", "op": "between", "value": [today.isoformat(), tomorrow]}, EVERYONE),
        ({"field": "created_at", "op": "newer_than_days", "value": 1}, EVERYONE),
    ]:
        assert matching(SEGMENTS, raw, rows) == (expected, expected), raw


def test_date_fields_and_references_of_other_record_types(in_org, make_record):
    today = timezone.localdate()
    pilot = make_record("opportunity", name="Pilot", expected_close_date=today - timedelta(days=40))
    renewal = make_record(
        "opportunity", name="Renewal", account_id=pilot.account_id, expected_close_date=today
    )
    other = make_record("opportunity", name="Other")
    rows = list(Opportunity.objects.filter(pk__in=[pilot.pk, renewal.pk, other.pk]))
    for raw, expected in [
        ({"field": "expected_close_date", "op": "eq", "value": today.isoformat()}, {"Renewal"}),
        ({"field": "expected_close_date", "op": "older_than_days", "value": 30}, {"Pilot"}),
        ({"field": "expected_close_date", "op": "newer_than_days", "value": 30}, {"Renewal"}),
        ({"field": "expected_close_date", "op": "is_empty"}, {"Other"}),
        ({"field": "account", "op": "eq", "value": pilot.account_id}, {"Pilot", "Renewal"}),
        ({"field": "account", "op": "ne", "value": pilot.account_id}, {"Other"}),
        ({"field": "primary_contact", "op": "is_empty"}, {"Pilot", "Renewal", "Other"}),
        ({"field": "probability", "op": "gte", "value": 0}, {"Pilot", "Renewal", "Other"}),
    ]:
        assert matching(SEGMENTS, raw, rows, record_type="opportunity") == (expected, expected), raw


def test_every_operator_of_both_dialects_is_exercised():
    for dialect in (SEGMENTS, RULES):
        offered = {op for ops in dialect.operators.values() for op in ops}
        tried = {raw["op"] for used, raw, _ in CASES if used is dialect}
        if dialect is SEGMENTS:  # the absolute comparisons of dates: test_dates_compare_by_calendar_day
            tried |= {"gt", "lt", "gte", "lte", "between", "ne"}
        tried |= {op for op, _, _ in RELATIVE_DATETIMES}  # both dialects: test_relative_dates_on_a_datetime
        assert offered == tried, (dialect.name, offered ^ tried)


def test_conditions_combine_by_all_or_any(people):
    _, rows = people
    conditions = [
        language.clean_condition(raw, dialect=SEGMENTS, record_type="lead", prefix="c")
        for raw in (
            {"field": "tags", "op": "has_tag", "value": "q4"},
            {"field": "value", "op": "lt", "value": 1},
        )
    ]
    now = timezone.now()
    for match, expected in (("all", {"Globex"}), ("any", {"Acme Big", "Globex"})):
        context = {"match": match, "dialect": SEGMENTS, "record_type": "lead", "now": now}
        in_python = {row.name for row in rows if language.conditions_hold(conditions, row, **context)}
        query = language.conditions_q(conditions, **context)
        in_sql = set(
            Lead.objects.filter(pk__in=[row.pk for row in rows]).filter(query).values_list("name", flat=True)
        )
        assert in_python == in_sql == expected
    assert language.conditions_hold([], rows[0], match="any", dialect=RULES, record_type="lead", now=now)


def test_how_values_are_stored_per_dialect(in_org, admin):
    assert clean(RULES, {"field": "value", "op": "gt", "value": 10.50}) == {
        "field": "value",
        "op": "gt",
        "value": "10.5",
    }
    assert clean(RULES, {"field": "score", "op": "between", "value": ["3", 4]})["value"] == [3, 4]
    assert clean(RULES, {"field": "source", "op": "eq", "value": "ADS"})["value"] == "ads"
    assert clean(RULES, {"field": "company", "op": "is_empty", "value": None}) == {
        "field": "company",
        "op": "is_empty",
    }
    assert clean(SEGMENTS, {"field": "value", "op": "between", "value": [1, 5000.5]})["value"] == [1, 5000.5]
    assert (
        clean(SEGMENTS, {"field": "created_at", "op": "gt", "value": "2030-01-01"})["value"] == "2030-01-01"
    )
    for dialect, op in ((SEGMENTS, "has_tag"), (RULES, "contains")):
        assert (
            clean(dialect, {"field": "tags", "op": op, "value": "  Key   Account "})["value"] == "key account"
        )


def test_rules_check_that_a_member_exists_when_saved_not_when_read(in_org, admin, member):
    gone = member(role=Role.REP)
    condition = clean(RULES, {"field": "owner", "op": "eq", "value": gone.pk})
    User.objects.filter(pk=gone.pk).delete()
    with pytest.raises(InvalidInput, match="the id of a member of this organization"):
        clean(RULES, {"field": "owner", "op": "eq", "value": gone.pk})
    now = timezone.now()
    assert not language.condition_holds(
        condition, Lead(owner_id=None), dialect=RULES, record_type="lead", now=now
    )
    assert (
        Lead.objects.filter(
            language.condition_q(condition, dialect=RULES, record_type="lead", now=now)
        ).count()
        == 0
    )


def test_a_new_field_is_one_entry_and_both_dialects_offer_it(people, monkeypatch):
    """Custom fields (issue 19) are one line in FIELDS: segments and rules validate and evaluate them."""
    _, rows = people
    monkeypatch.setitem(FIELDS["lead"], "organisation", Field(FieldType.STRING, "company"))
    assert matching(SEGMENTS, {"field": "organisation", "op": "eq", "value": "Initech"}, rows) == (
        {"acme small"},
        {"acme small"},
    )
    assert matching(RULES, {"field": "organisation", "op": "eq", "value": "INITECH"}, rows) == (
        {"acme small"},
        {"acme small"},
    )


# ---- relative dates: windows of days and calendar periods, resolved against `now` -----------------------

NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)  # a Friday in the second quarter
MICRO = timedelta(microseconds=1)
CONTACTED = {
    "quarter start": datetime(2026, 4, 1, tzinfo=UTC),
    "before the quarter": datetime(2026, 4, 1, tzinfo=UTC) - MICRO,
    "quarter end": datetime(2026, 7, 1, tzinfo=UTC) - MICRO,
    "next quarter": datetime(2026, 7, 1, tzinfo=UTC),
    "now": NOW,
    "30 days ago": NOW - timedelta(days=30),
    "just over 30 days ago": NOW - timedelta(days=30) - MICRO,
    "in 30 days": NOW + timedelta(days=30),
    "just over 30 days ahead": NOW + timedelta(days=30) + MICRO,
    "never": None,
}
IN_QUARTER = {"quarter start", "quarter end", "now", "30 days ago", "just over 30 days ago", "in 30 days"}
RELATIVE_DATETIMES = [
    ("in_period", "this_quarter", IN_QUARTER | {"just over 30 days ahead"}),
    ("in_period", "last_quarter", {"before the quarter"}),
    ("in_period", "next_quarter", {"next quarter"}),
    ("in_period", "this_month", {"now"}),
    ("in_period", "last_month", {"quarter start", "30 days ago", "just over 30 days ago"}),
    ("in_period", "next_month", {"quarter end", "in 30 days", "just over 30 days ahead"}),
    ("in_period", "this_week", {"now"}),
    ("in_period", "today", {"now"}),
    ("in_period", "yesterday", set()),
    ("in_period", "this_year", set(CONTACTED) - {"never"}),
    ("in_period", "last_year", set()),
    ("in_last_days", 30, {"now", "30 days ago"}),
    ("in_next_days", 30, {"now", "in 30 days"}),
    ("in_last_days", 0, {"now"}),
]


def test_relative_dates_on_a_datetime_field_at_their_boundaries(in_org, make_lead):
    """Periods start at midnight (UTC for now); windows include both ends; a record never contacted is in
    none. Both dialects, as a query and in memory."""
    made = [make_lead(name=name) for name in CONTACTED]
    for lead in made:
        Lead.objects.filter(pk=lead.pk).update(last_contacted_at=CONTACTED[lead.name])
    rows = list(Lead.objects.filter(pk__in=[lead.pk for lead in made]))
    for dialect in (SEGMENTS, RULES):
        for op, value, expected in RELATIVE_DATETIMES:
            raw = {"field": "last_contacted_at", "op": op, "value": value}
            assert matching(dialect, raw, rows, now=NOW) == (expected, expected), (dialect.name, raw)


CLOSING = {
    "quarter first": date(2026, 4, 1),
    "day before the quarter": date(2026, 3, 31),
    "quarter last": date(2026, 6, 30),
    "next quarter first": date(2026, 7, 1),
    "today": date(2026, 5, 15),
    "30 days ago": date(2026, 4, 15),
    "31 days ago": date(2026, 4, 14),
    "in 30 days": date(2026, 6, 14),
    "in 31 days": date(2026, 6, 15),
    "no date": None,
}
RELATIVE_DATES = [
    ("in_period", "this_quarter", set(CLOSING) - {"day before the quarter", "next quarter first", "no date"}),
    ("in_period", "last_quarter", {"day before the quarter"}),
    ("in_period", "next_quarter", {"next quarter first"}),
    ("in_period", "this_month", {"today"}),
    ("in_period", "last_month", {"quarter first", "30 days ago", "31 days ago"}),
    ("in_period", "next_month", {"quarter last", "in 30 days", "in 31 days"}),
    ("in_period", "today", {"today"}),
    ("in_period", "tomorrow", set()),
    ("in_last_days", 30, {"today", "30 days ago"}),
    ("in_next_days", 30, {"today", "in 30 days"}),
]


def test_relative_dates_on_a_date_field_compare_calendar_days(in_org, make_record):
    made = [make_record("opportunity", name=name, expected_close_date=day) for name, day in CLOSING.items()]
    rows = list(Opportunity.objects.filter(pk__in=[deal.pk for deal in made]))
    for op, value, expected in RELATIVE_DATES:
        raw = {"field": "expected_close_date", "op": op, "value": value}
        assert matching(SEGMENTS, raw, rows, record_type="opportunity", now=NOW) == (expected, expected), raw


def test_relative_dates_are_stored_as_written_and_resolved_when_evaluated(in_org, make_lead):
    condition = clean(SEGMENTS, {"field": "created_at", "op": "in_period", "value": "this_month"})
    assert condition == {"field": "created_at", "op": "in_period", "value": "this_month"}
    assert clean(RULES, {"field": "created_at", "op": "in_last_days", "value": 7})["value"] == 7
    lead = make_lead(name="Fresh")
    context = {"dialect": SEGMENTS, "record_type": "lead"}
    now = timezone.now()
    assert language.condition_holds(condition, lead, now=now, **context)
    assert not language.condition_holds(condition, lead, now=now + timedelta(days=32), **context)
    assert not Lead.objects.filter(
        language.condition_q(condition, now=now + timedelta(days=32), **context), pk=lead.pk
    ).exists()


# ---- validation ----------------------------------------------------------------------------------------

BAD = [
    # (condition, key the rules' error names, message both dialects share)
    ("stage = NEW", "", "expected an object with field, op and value"),
    (
        {"field": "stage", "op": "eq", "value": "NEW", "sql": "1=1"},
        "sql",
        "unknown key 'sql'; use field, op and value",
    ),
    ({"field": "password", "op": "eq", "value": "x"}, "field", "unknown field 'password' for lead"),
    ({"field": "owner__email", "op": "eq", "value": "x"}, "field", "unknown field 'owner__email' for lead"),
    ({"field": ["stage"], "op": "eq", "value": "NEW"}, "field", "unknown field ['stage'] for lead"),
    ({"field": "stage", "op": "regex", "value": ".*"}, "op", "unknown operator 'regex' for stage (choice)"),
    ({"field": "value", "op": "is_empty"}, "op", "unknown operator 'is_empty' for value (number)"),
    ({"field": "stage", "op": "eq"}, "value", "stage eq needs a value"),
    ({"field": "value", "op": "gt", "value": True}, "value", "value gt expects a number"),
    ({"field": "value", "op": "gt", "value": 1e20}, "value", "value gt expects a number between"),
    ({"field": "score", "op": "eq", "value": 1.5}, "value", "score eq expects an integer"),
    ({"field": "stage", "op": "eq", "value": "DONE"}, "value", "stage eq expects one of NEW, CONTACTED"),
    ({"field": "stage", "op": "in", "value": []}, "value", "stage in expects a list of 1 to 100 choices"),
    (
        {"field": "name", "op": "in", "value": ["x"] * 101},
        "value",
        "name in expects a list of 1 to 100 strings",
    ),
    (
        {"field": "value", "op": "between", "value": [10, 1]},
        "value",
        "value between expects two numbers with the low one first",
    ),
    (
        {"field": "value", "op": "between", "value": [1]},
        "value",
        "value between expects a list of two numbers (low, high)",
    ),
    (
        {"field": "name", "op": "eq", "value": "x" * 201},
        "value",
        "name eq expects a string of at most 200 characters",
    ),
    (
        {"field": "name", "op": "eq", "value": "nul\x00"},
        "value",
        "name eq expects a string of at most 200 characters",
    ),
    ({"field": "name", "op": "contains", "value": ""}, "value", "name contains expects a non-empty string"),
    (
        {"field": "last_contacted_at", "op": "older_than_days", "value": -1},
        "value",
        "last_contacted_at older_than_days expects a number of days between 0",
    ),
    (
        {"field": "last_contacted_at", "op": "is_empty", "value": "yes"},
        "value",
        "last_contacted_at is_empty expects true or false",
    ),
    ({"field": "owner", "op": "eq", "value": 0}, "value", "owner eq expects a"),
    (
        {"field": "created_at", "op": "in_period", "value": "last_30_days"},
        "value",
        "created_at in_period expects a period: one of yesterday, today, tomorrow, last_week",
    ),
    (
        {"field": "created_at", "op": "in_period", "value": ["this_month"]},
        "value",
        "created_at in_period expects a period",
    ),
    ({"field": "created_at", "op": "in_period"}, "value", "created_at in_period needs a value"),
    (
        {"field": "last_contacted_at", "op": "in_last_days", "value": "30"},
        "value",
        "last_contacted_at in_last_days expects a number of days between 0",
    ),
    (
        {"field": "last_contacted_at", "op": "in_next_days", "value": 36_501},
        "value",
        "last_contacted_at in_next_days expects a number of days between 0",
    ),
]


@pytest.mark.parametrize(("condition", "key", "message"), BAD)
def test_a_bad_condition_is_refused_naming_what_to_fix(in_org, condition, key, message):
    with pytest.raises(InvalidInput) as rules_error:
        clean(RULES, condition)
    assert rules_error.value.code == "invalid_condition"
    assert rules_error.value.field == (f"conditions[0].{key}" if key else "conditions[0]")
    assert (
        message[:1].upper() + message[1:] in rules_error.value.message or message in rules_error.value.message
    )
    assert rules_error.value.message.endswith(".")

    with pytest.raises(InvalidInput) as segments_error:
        language.clean_conditions(
            [{"field": "name", "op": "is_empty"}, condition], dialect=SEGMENTS, record_type="lead"
        )
    assert segments_error.value.code == "invalid_condition"
    assert segments_error.value.field == "conditions"
    assert segments_error.value.message.startswith(f"#2: {message}")
    assert segments_error.value.as_body()["details"]["index"] == 2


@pytest.mark.parametrize(
    ("dialect", "condition", "message"),
    [
        (SEGMENTS, {"field": "name", "op": "starts_with", "value": "a"}, "unknown operator 'starts_with'"),
        (SEGMENTS, {"field": "value", "op": "gt", "value": "100"}, "value gt expects a number"),
        (SEGMENTS, {"field": "stage", "op": "eq", "value": "new"}, "stage eq expects one of"),
        (
            SEGMENTS,
            {"field": "tags", "op": "contains", "value": "vip"},
            "unknown operator 'contains' for tags",
        ),
        (SEGMENTS, {"field": "owner", "op": "eq", "value": "me"}, "owner eq expects an id"),
        (RULES, {"field": "name", "op": "icontains", "value": "a"}, "Unknown operator 'icontains'"),
        (RULES, {"field": "owner", "op": "is_me"}, "Unknown operator 'is_me'"),
        (RULES, {"field": "tags", "op": "has_tag", "value": "vip"}, "Unknown operator 'has_tag' for tags"),
        (
            RULES,
            {"field": "created_at", "op": "gt", "value": "2030-01-01"},
            "Unknown operator 'gt' for created_at",
        ),
        (
            RULES,
            {"field": "company", "op": "is_not_empty", "value": "x"},
            "Company is_not_empty expects no value.",
        ),
        (RULES, {"field": "owner", "op": "eq", "value": 2**62}, "the id of a member of this organization"),
        (RULES, {"field": "value", "op": "gt", "value": "lots"}, "Value gt expects a number."),
    ],
)
def test_each_dialect_keeps_its_own_spelling(in_org, dialect, condition, message):
    with pytest.raises(InvalidInput) as error:
        clean(dialect, condition)
    assert message in error.value.message


def test_lists_and_definitions_are_checked_as_a_whole():
    with pytest.raises(InvalidInput, match="At most 20 conditions"):
        language.clean_conditions(
            [{"field": "name", "op": "is_empty"}] * 21, dialect=RULES, record_type="lead"
        )
    with pytest.raises(InvalidInput, match="Expected a list of conditions"):
        language.clean_conditions({"field": "name"}, dialect=RULES, record_type="lead")
    for definition, field in [
        ([], "definition"),
        ({"match": "some"}, "match"),
        ({"where": []}, "definition"),
        ({"conditions": [{"field": "name", "op": "is_empty"}] * 51}, "conditions"),
    ]:
        with pytest.raises(InvalidInput) as error:
            language.clean_definition(definition, dialect=SEGMENTS, record_type="lead")
        assert error.value.field == field, definition
    with pytest.raises(InvalidInput) as error:
        language.clean_definition({}, dialect=SEGMENTS, record_type="task")
    assert error.value.field == "record_type"
    assert language.clean_definition({}, dialect=SEGMENTS, record_type="account") == {
        "match": "all",
        "conditions": [],
    }
