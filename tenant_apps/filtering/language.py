"""The filter language: conditions {"field", "op", "value"} over one record type, combined by "all" or
"any". Each operator is implemented once, as a query (to filter a queryset, `conditions_q`) and as a check
against a record in memory (to test the record an event is about, `conditions_hold`); the two agree.

Dates may be relative, in both dialects: `older_than_days`/`newer_than_days` N, `in_last_days`/
`in_next_days` N (from N days ago to now, from now to N days ahead, both ends included) and `in_period`
("this_quarter", "last_month", "today", ...: tenant_apps/filtering/periods). They are stored as written and
resolved against the `now` the evaluation is given; calendar days are those of the zone in force (the
member's, else the organization's).

Segments and automation rules were saved in two spellings of this language, kept readable as they are
stored (no data migration): a `Dialect` names the operators a spelling offers per field type and how it
reads values. The differences are small and deliberate:

- SEGMENTS: strings and choices compare exactly (`icontains` ignores case), values are kept as sent,
  errors name `conditions` with the condition's number ("#2: ..."), up to 50 conditions.
- RULES (automation rules and scoring rules, on leads): strings and choices compare without regard to
  case, values are kept normalized (numbers as exact decimal strings, so numbers may be sent as strings;
  member ids are checked to exist), errors name the condition's place (`conditions[2].op`), up to 20.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date as parse_iso_date
from django.utils.dateparse import parse_datetime as parse_iso_datetime

from shared_apps.core import localtime
from shared_apps.core.errors import InvalidInput
from shared_apps.core.validation import clean_metadata
from tenant_apps.filtering.fields import FIELDS, Field, FieldType, field_named, fields_for
from tenant_apps.filtering.periods import period_bounds
from tenant_apps.filtering.values import (
    MAX_LIST,
    BadValue,
    comparable,
    parse_choice,
    parse_date,
    parse_date_or_datetime,
    parse_days,
    parse_flag,
    parse_id,
    parse_member,
    parse_number,
    parse_period,
    parse_tag,
    parse_text,
    show,
)

EMPTINESS = ("is_empty", "is_not_empty")
VALUELESS = (*EMPTINESS, "is_me")
DAYS = ("older_than_days", "newer_than_days")
WINDOWS = ("in_last_days", "in_next_days")  # from N days ago to now, from now to N days ahead
RELATIVE = (*DAYS, *WINDOWS, "in_period")  # resolved against `now` when evaluated, never when saved
NEGATIONS = {"ne": "eq", "not_in": "in", "not_contains": "contains"}
TEXT_SEARCH = ("contains", "not_contains", "icontains", "starts_with", "ends_with")
COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")


@dataclass(frozen=True)
class Dialect:
    name: str
    operators: Mapping[FieldType, tuple[str, ...]]  # per type; emptiness only where a field can be empty
    ignore_case: bool  # strings compare, and choices match, without regard to case
    normalized: bool  # values kept as parsed (numbers as decimal strings), member ids checked to exist
    numbered_errors: bool  # errors name the list with the condition's number, not the condition's place
    max_conditions: int

    def operators_for(self, field: Field) -> tuple[str, ...]:
        return tuple(op for op in self.operators[field.type] if op not in EMPTINESS or field.can_be_empty)

    def fields(self, record_type: str) -> dict[str, Field]:
        return {
            name: field for name, field in fields_for(record_type).items() if field.type in self.operators
        }


SEGMENTS = Dialect(
    name="segments",
    operators={
        FieldType.STRING: ("eq", "ne", "in", "contains", "icontains", "is_empty"),
        FieldType.NUMBER: ("eq", "ne", "in", "gt", "gte", "lt", "lte", "between", "is_empty"),
        FieldType.DATE: (*COMPARISONS, *RELATIVE, "is_empty"),
        FieldType.DATETIME: (*COMPARISONS, *RELATIVE, "is_empty"),
        FieldType.CHOICE: ("eq", "ne", "in", "is_empty"),
        FieldType.TAGS: ("has_tag", "is_empty"),
        FieldType.OWNER: ("is_me", "eq", "ne", "in", "is_empty"),
        FieldType.REFERENCE: ("eq", "ne", "in", "is_empty"),
    },
    ignore_case=False,
    normalized=False,
    numbered_errors=True,
    max_conditions=50,
)

RULES = Dialect(
    name="rules",
    operators={
        FieldType.STRING: (
            "eq",
            "ne",
            "in",
            "not_in",
            "contains",
            "not_contains",
            "starts_with",
            "ends_with",
            *EMPTINESS,
        ),
        FieldType.CHOICE: ("eq", "ne", "in", "not_in", *EMPTINESS),
        FieldType.NUMBER: (*COMPARISONS, *EMPTINESS),
        FieldType.OWNER: ("eq", "ne", "in", "not_in", *EMPTINESS),
        FieldType.TAGS: ("contains", "not_contains", *EMPTINESS),
        FieldType.DATETIME: (*RELATIVE, *EMPTINESS),
    },
    ignore_case=True,
    normalized=True,
    numbered_errors=False,
    max_conditions=20,
)

PLURALS = {
    FieldType.STRING: "strings",
    FieldType.NUMBER: "numbers",
    FieldType.DATE: "dates",
    FieldType.DATETIME: "dates",
    FieldType.CHOICE: "choices",
    FieldType.OWNER: "member ids",
    FieldType.REFERENCE: "ids",
}


# ---- values ------------------------------------------------------------------------------------------


def parse_scalar(dialect: Dialect, field: Field, value: Any, *, checking: bool = True) -> Any:
    """One value of the field's type (the `value` of eq, an item of in, a bound of between, the `from`
    and `to` of a field_changed trigger). `checking`: member ids are looked up (on save, not on reads)."""
    kind = field.type
    if value is None and field.nullable and kind in (FieldType.OWNER, FieldType.REFERENCE):
        return None
    if kind == FieldType.STRING:
        return parse_text(value)
    if kind == FieldType.NUMBER:
        return parse_number(value, integer=field.integer, strings=dialect.normalized)
    if kind == FieldType.DATE:
        return parse_date(value)
    if kind == FieldType.DATETIME:
        return parse_date_or_datetime(value)
    if kind == FieldType.CHOICE:
        return parse_choice(field, value, ignore_case=dialect.ignore_case)
    if kind == FieldType.TAGS:
        return parse_tag(value)
    if kind == FieldType.OWNER and dialect.normalized:
        return parse_member(value) if checking else parse_id(value, what="a member id")
    return parse_id(value)


def parse_value(dialect: Dialect, field: Field, op: str, value: Any, *, checking: bool = True) -> Any:
    """The Python value of a condition, checked against its field's type and operator (BadValue if not)."""
    if op == "is_empty":
        return parse_flag(value)
    if op == "is_not_empty":
        if value is not None:
            raise BadValue("no value")
        return True
    if op == "is_me":
        if value is not None and value is not True:
            raise BadValue("true (or omitted)")
        return True
    if op in (*DAYS, *WINDOWS):
        return parse_days(value)
    if op == "in_period":
        return parse_period(value)
    if field.type == FieldType.TAGS:
        return parse_tag(value)
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
            raise BadValue(f"a list of 1 to {MAX_LIST} {PLURALS[field.type]}")
        return [parse_scalar(dialect, field, item, checking=checking) for item in value]
    if op == "between":
        what = PLURALS[field.type]
        if not isinstance(value, list) or len(value) != 2:
            raise BadValue(f"a list of two {what} (low, high)")
        low, high = (parse_scalar(dialect, field, item, checking=checking) for item in value)
        if comparable(low) > comparable(high):
            raise BadValue(f"two {what} with the low one first")
        return [low, high]
    if op in TEXT_SEARCH:
        text = parse_text(value)
        if not text:
            raise BadValue("a non-empty string")
        return text
    return parse_scalar(dialect, field, value, checking=checking)


def _stored(field: Field, parsed: Any) -> Any:
    """How a parsed value is kept in JSON when a dialect stores values normalized."""
    if isinstance(parsed, list):
        return [_stored(field, item) for item in parsed]
    if isinstance(parsed, Decimal):
        return int(parsed) if field.integer else str(parsed)
    if isinstance(parsed, date):
        return parsed.isoformat()
    return parsed


# ---- definitions -------------------------------------------------------------------------------------


class _Problem(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key, self.message = key, message


def _error(dialect: Dialect, problem: _Problem, *, prefix: str, number: int) -> InvalidInput:
    if dialect.numbered_errors:
        return InvalidInput(
            prefix.split("[")[0], f"#{number}: {problem.message}", code="invalid_condition", index=number
        )
    field = f"{prefix}.{problem.key}" if problem.key else prefix
    message = f"{problem.message[:1].upper()}{problem.message[1:]}."
    return InvalidInput(field, message, code="invalid_condition")


def _clean(dialect: Dialect, record_type: str, condition: Any) -> dict[str, Any]:
    if not isinstance(condition, dict):
        raise _Problem("", "expected an object with field, op and value")
    unknown = sorted(set(condition) - {"field", "op", "value"})
    if unknown:
        raise _Problem(str(unknown[0]), f"unknown key {show(unknown[0])}; use field, op and value")
    name, op = condition.get("field"), condition.get("op")
    field = field_named(record_type, name) if isinstance(name, str) else None
    if field is None or field.type not in dialect.operators:
        raise _Problem("field", f"unknown field {show(name)} for {record_type}")
    operators = dialect.operators_for(field)
    if not isinstance(op, str) or op not in operators:
        raise _Problem(
            "op", f"unknown operator {show(op)} for {name} ({field.type}); use one of {', '.join(operators)}"
        )
    if "value" not in condition and op not in VALUELESS:
        raise _Problem("value", f"{name} {op} needs a value")
    value = condition.get("value")
    try:
        parsed = parse_value(dialect, field, op, value)
    except BadValue as error:
        raise _Problem("value", f"{name} {op} expects {error}") from None
    cleaned: dict[str, Any] = {"field": name, "op": op}
    if op in VALUELESS and value is None:
        return cleaned
    if field.type == FieldType.TAGS or dialect.normalized:
        cleaned["value"] = _stored(field, parsed)  # tags are always stored normalized
    else:
        cleaned["value"] = value
    return cleaned


def clean_condition(
    condition: Any, *, dialect: Dialect, record_type: str, prefix: str, number: int = 1
) -> dict[str, Any]:
    """One condition checked against the whitelist, as stored. Errors name `<prefix>.<key>` (or, in a
    numbered dialect, the list with `#<number>`)."""
    try:
        return _clean(dialect, record_type, condition)
    except _Problem as problem:
        raise _error(dialect, problem, prefix=prefix, number=number) from None


def clean_conditions(
    conditions: Any, *, dialect: Dialect, record_type: str, field: str = "conditions"
) -> list[dict[str, Any]]:
    if not isinstance(conditions, list):
        raise InvalidInput(field, "Expected a list of conditions.")
    if len(conditions) > dialect.max_conditions:
        raise InvalidInput(field, f"At most {dialect.max_conditions} conditions.")
    return [
        clean_condition(
            item, dialect=dialect, record_type=record_type, prefix=f"{field}[{index}]", number=index + 1
        )
        for index, item in enumerate(conditions)
    ]


def clean_definition(definition: Any, *, dialect: Dialect, record_type: str) -> dict[str, Any]:
    """{"match": "all"|"any", "conditions": [...]} with every condition checked against the whitelist.
    Errors name `record_type`, `definition`, `match` or `conditions`."""
    if record_type not in FIELDS:
        raise InvalidInput("record_type", f"Expected one of {', '.join(FIELDS)}.")
    definition = clean_metadata(definition, field="definition")
    unknown = sorted(set(definition) - {"match", "conditions"})
    if unknown:
        raise InvalidInput("definition", f"Unknown key {show(unknown[0])}; use match and conditions.")
    match = definition.get("match", "all")
    if match not in ("all", "any"):
        raise InvalidInput("match", 'Expected "all" or "any".')
    conditions = definition.get("conditions", [])
    return {
        "match": match,
        "conditions": clean_conditions(conditions, dialect=dialect, record_type=record_type),
    }


# ---- one condition: the query, and the check in memory -------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    field: Field
    op: str  # a positive operator: ne, not_in, not_contains are the negations of eq, in, contains
    negated: bool
    value: Any
    fold: bool  # strings compare without regard to case


class _Gone(Exception):
    """A condition on a custom field deleted since it was saved: it holds for no record."""


def _compile(condition: dict[str, Any], dialect: Dialect, record_type: str) -> _Compiled:
    field = field_named(record_type, condition["field"])
    if field is None:
        raise _Gone(condition["field"])
    op = condition["op"]
    value = parse_value(dialect, field, op, condition.get("value"), checking=False)
    if op == "is_not_empty":
        op, value = "is_empty", False
    fold = field.type == FieldType.STRING and (dialect.ignore_case or op == "icontains")
    if op in NEGATIONS:
        return _Compiled(field, NEGATIONS[op], True, value, fold)
    return _Compiled(field, "contains" if op == "icontains" else op, False, value, fold)


def _since(field: Field, days: int, now: datetime) -> date | datetime:
    if field.type == FieldType.DATE:
        return localtime.today(now=now) - timedelta(days=days)
    return now - timedelta(days=days)


Bounds = tuple[date | datetime, date | datetime, bool]


def _window(field: Field, op: str, value: Any, now: datetime) -> Bounds:
    """(low, high, whether high is included) of a window or period operator, in the field's terms: dates
    for a date field, instants for a datetime field (a period's days start at midnight in the zone in
    force: the member's, else the organization's; shared_apps/core/localtime.py)."""
    today = localtime.today(now=now)
    if op == "in_period":
        if field.type == FieldType.DATE:
            first, after = period_bounds(value, today)
            return first, after, False
        start, end = localtime.period_range(value, now=now)
        return start, end, False
    current: date | datetime = today if field.type == FieldType.DATE else now
    if op == "in_last_days":
        return _since(field, value, now), current, True
    return current, current + timedelta(days=value), True  # in_next_days


def _empty_q(field: Field) -> Q:
    if field.custom_key:  # a custom field without a value has no key in `custom` at all
        return Q(**{f"custom__{field.custom_key}__isnull": True})
    if field.type in (FieldType.STRING, FieldType.CHOICE) and not field.nullable:
        return Q(**{field.column: ""})
    if field.type == FieldType.TAGS:
        return Q(**{field.column: []})
    return Q(**{f"{field.column}__isnull": True})


def _compare_q(field: Field, lookup: str, value: Any) -> Q:
    """column <lookup> value; a date against a datetime column compares calendar days."""
    column = field.column
    if value is None:
        return Q(**{f"{column}__isnull": True})
    if field.type == FieldType.DATETIME and not isinstance(value, datetime) and field.custom_key:
        return _custom_day_q(column, lookup, value)
    if field.type == FieldType.DATETIME and not isinstance(value, datetime):
        column = f"{column}__date"
    return Q(**{f"{column}__{lookup}": value})


def _custom_day_q(column: str, lookup: str, day: date) -> Q:
    """A custom datetime (stored as UTC text) against a calendar day of the zone in force: the day's
    instants [midnight, next midnight), so the comparison keeps using the field's index."""
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    after = timezone.make_aware(datetime.combine(day + timedelta(days=1), datetime.min.time()))
    if lookup == "exact":
        return Q(**{f"{column}__gte": start, f"{column}__lt": after})
    bound, how = {"gt": (after, "gte"), "gte": (start, "gte"), "lt": (start, "lt"), "lte": (after, "lt")}[
        lookup
    ]
    return Q(**{f"{column}__{how}": bound})


TEXT_LOOKUPS = {"eq": "exact", "contains": "contains", "starts_with": "startswith", "ends_with": "endswith"}


def _positive_q(compiled: _Compiled, *, actor_id: int | None, now: datetime) -> Q:
    field, op, value, column = compiled.field, compiled.op, compiled.value, compiled.field.column
    if op == "is_empty":
        return _empty_q(field) if value else ~_empty_q(field)
    if op == "is_me":
        return Q(**{column: actor_id})
    if op in DAYS:
        since = _since(field, value, now)
        return Q(**{f"{column}__lt" if op == "older_than_days" else f"{column}__gte": since})
    if op in (*WINDOWS, "in_period"):
        low, high, closed = _window(field, op, value, now)
        return Q(**{f"{column}__gte": low, f"{column}__lte" if closed else f"{column}__lt": high})
    if field.type == FieldType.TAGS:  # has_tag, contains
        return Q(**{f"{column}__contains": [value]})
    if field.type == FieldType.STRING and op == "in" and compiled.fold:
        matches = Q(pk__in=[])
        for item in value:
            matches |= Q(**{f"{column}__iexact": item})
        return matches
    if field.type == FieldType.STRING and op in TEXT_LOOKUPS:
        prefix = "i" if compiled.fold else ""
        return Q(**{f"{column}__{prefix}{TEXT_LOOKUPS[op]}": value})
    if op == "in":
        matches = Q(**{f"{column}__in": [item for item in value if item is not None]})
        return matches | Q(**{f"{column}__isnull": True}) if None in value else matches
    if op == "between":
        return _compare_q(field, "gte", value[0]) & _compare_q(field, "lte", value[1])
    return _compare_q(field, "exact" if op == "eq" else op, value)  # eq, gt, gte, lt, lte


ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _comparable_to(field: Field, current: Any, value: Any) -> Any:
    """The record's value in the terms of the condition's: a datetime seen as a local calendar day against
    a date, a number as an exact Decimal."""
    if field.type == FieldType.DATETIME and isinstance(current, datetime) and not isinstance(value, datetime):
        return timezone.localtime(current).date()
    if field.type == FieldType.NUMBER:
        return Decimal(str(current))
    return current


def current_value(record: Any, field: Field) -> Any:
    """The record's value of the field in memory: its attribute, or for a custom field the value in its
    `custom` object in the terms conditions compare (Decimal, date, datetime, "true"/"false", member id)."""
    if not field.custom_key:
        return getattr(record, field.column)
    stored = (getattr(record, "custom", None) or {}).get(field.custom_key)
    if stored is None:
        return None
    kind = field.custom_kind
    if kind == "money":
        return Decimal(stored["amount"])
    if kind == "number":
        return Decimal(stored)
    if kind == "date":
        return parse_iso_date(stored)
    if kind == "datetime":
        return parse_iso_datetime(stored)
    if kind == "boolean":
        return "true" if stored else "false"
    return stored


def _positive_holds(compiled: _Compiled, current: Any, *, actor_id: int | None, now: datetime) -> bool:
    field, op, value = compiled.field, compiled.op, compiled.value
    if op == "is_empty":
        return (current in (None, "", [])) == value
    if op == "is_me":
        return bool(current == actor_id)
    if current is None:  # as in SQL: NULL compares to nothing (only `eq null` and `in [null]` match it)
        return (op == "eq" and value is None) or (op == "in" and None in value)
    if op in DAYS:
        since = _since(field, value, now)
        return bool(current < since) if op == "older_than_days" else bool(current >= since)
    if op in (*WINDOWS, "in_period"):
        low, high, closed = _window(field, op, value, now)
        return bool(low <= current) and bool(current <= high if closed else current < high)
    if field.type == FieldType.TAGS:
        return value in current
    if field.type == FieldType.STRING and op in ("in", *TEXT_LOOKUPS):
        fold: Callable[[str], str] = str.casefold if compiled.fold else str
        text = fold(current)
        if op == "in":
            return text in {fold(item) for item in value}
        return {
            "eq": operator.eq,
            "contains": lambda text, part: part in text,
            "starts_with": str.startswith,
            "ends_with": str.endswith,
        }[op](text, fold(value))
    if op == "in":
        return bool(_comparable_to(field, current, value[0]) in value)
    if value is None:  # eq null
        return False
    if op == "between":
        low, high = value
        return bool(low <= _comparable_to(field, current, low)) and bool(
            _comparable_to(field, current, high) <= high
        )
    return bool(ORDER[op](_comparable_to(field, current, value), value))


def condition_q(
    condition: dict[str, Any],
    *,
    dialect: Dialect,
    record_type: str,
    now: datetime,
    actor_id: int | None = None,
) -> Q:
    """The Q object of one (cleaned) condition. Relative operators resolve against `now` and the actor."""
    try:
        compiled = _compile(condition, dialect, record_type)
    except _Gone:
        return Q(pk__in=[])
    query = _positive_q(compiled, actor_id=actor_id, now=now)
    return ~query if compiled.negated else query


def condition_holds(
    condition: dict[str, Any],
    record: Any,
    *,
    dialect: Dialect,
    record_type: str,
    now: datetime,
    actor_id: int | None = None,
) -> bool:
    """Whether a (cleaned) condition holds for the record as it is in memory: the same answer as
    condition_q gives for the row."""
    try:
        compiled = _compile(condition, dialect, record_type)
    except _Gone:
        return False
    held = _positive_holds(compiled, current_value(record, compiled.field), actor_id=actor_id, now=now)
    return not held if compiled.negated else held


def conditions_q(
    conditions: list[dict[str, Any]],
    *,
    match: str,
    dialect: Dialect,
    record_type: str,
    now: datetime,
    actor_id: int | None = None,
) -> Q:
    """Every condition (match "all") or at least one (match "any") as one Q; no conditions: every row."""
    queries = [
        condition_q(condition, dialect=dialect, record_type=record_type, now=now, actor_id=actor_id)
        for condition in conditions
    ]
    if not queries:
        return Q()
    combined = queries[0]
    for query in queries[1:]:
        combined = combined & query if match == "all" else combined | query
    return combined


def conditions_hold(
    conditions: list[dict[str, Any]],
    record: Any,
    *,
    match: str,
    dialect: Dialect,
    record_type: str,
    now: datetime,
    actor_id: int | None = None,
) -> bool:
    """All conditions (match "all") or at least one (match "any"); no conditions always hold."""
    if not conditions:
        return True
    results = (
        condition_holds(
            condition, record, dialect=dialect, record_type=record_type, now=now, actor_id=actor_id
        )
        for condition in conditions
    )
    return all(results) if match == "all" else any(results)


# ---- snapshots ---------------------------------------------------------------------------------------


def record_snapshot(record: Any, *, record_type: str) -> dict[str, Any]:
    """The values of the record's condition fields as JSON (dates as ISO text, numbers as exact decimal
    text): what a job carries to check conditions against the record as it was when an event was
    published, not as it is when the job runs."""
    snapshot: dict[str, Any] = {"custom": dict(getattr(record, "custom", None) or {})}
    for spec in FIELDS[record_type].values():
        value = getattr(record, spec.column)
        if isinstance(value, date):  # datetimes too
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, list | tuple):
            value = list(value)
        snapshot[spec.column] = value
    return snapshot


def snapshot_record(snapshot: Mapping[str, Any], *, record_type: str) -> SimpleNamespace:
    """A record_snapshot read back into an object that conditions_hold checks like the record itself."""
    values: dict[str, Any] = {"custom": dict(snapshot.get("custom") or {})}
    for spec in FIELDS[record_type].values():
        value = snapshot.get(spec.column)
        if isinstance(value, str) and spec.type == FieldType.DATETIME:
            value = parse_iso_datetime(value)
        elif isinstance(value, str) and spec.type == FieldType.DATE:
            value = parse_iso_date(value)
        elif value is not None and spec.type == FieldType.NUMBER:
            value = int(value) if spec.integer else Decimal(str(value))
        values[spec.column] = value
    return SimpleNamespace(**values)
