"""What a segment may filter on: per record type, a whitelist of fields with their types, and the operators
each type allows. Definitions are checked against it on save, and queries are built from it alone: a
condition names a whitelisted field and an operator implemented here, never a column or lookup of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db.models import Q
from django.utils import dateparse, timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.core.validation import clean_metadata
from tenant_apps.accounts.models import AccountSize, AccountStatus
from tenant_apps.leads.models import Source, Stage
from tenant_apps.opportunities.models import OpportunityStage
from tenant_apps.records import normalize
from tenant_apps.segments.models import RecordType

MAX_CONDITIONS = 50
MAX_LIST = 100
MAX_STRING = 200
MAX_NUMBER = Decimal("1000000000000")  # beyond any amount, value or score a record can hold
MAX_DAYS = 36_500
MAX_ID = 2**63 - 1
# Dates far outside these overflow Python's datetime arithmetic once time zones apply.
MIN_YEAR, MAX_YEAR = 1000, 9998


class FieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"
    TAGS = "tags"
    OWNER = "owner"
    REFERENCE = "reference"  # the id of a related record (a contact's account, ...)


# Operators per type; is_empty is offered only where a field can be empty (see FieldSpec.can_be_empty).
OPERATORS: dict[FieldType, tuple[str, ...]] = {
    FieldType.STRING: ("eq", "ne", "in", "contains", "icontains", "is_empty"),
    FieldType.NUMBER: ("eq", "ne", "in", "gt", "gte", "lt", "lte", "between", "is_empty"),
    FieldType.DATE: (
        "eq",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
        "older_than_days",
        "newer_than_days",
        "is_empty",
    ),
    FieldType.DATETIME: (
        "eq",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
        "older_than_days",
        "newer_than_days",
        "is_empty",
    ),
    FieldType.CHOICE: ("eq", "ne", "in", "is_empty"),
    FieldType.TAGS: ("has_tag", "is_empty"),
    FieldType.OWNER: ("is_me", "eq", "ne", "in", "is_empty"),
    FieldType.REFERENCE: ("eq", "ne", "in", "is_empty"),
}


@dataclass(frozen=True)
class FieldSpec:
    type: FieldType
    column: str
    choices: tuple[str, ...] = ()
    nullable: bool = False
    blank: bool = False  # a choice that may be "" (unset)
    integer: bool = False

    @property
    def can_be_empty(self) -> bool:
        return self.nullable or self.blank or self.type in (FieldType.STRING, FieldType.TAGS, FieldType.OWNER)

    @property
    def operators(self) -> tuple[str, ...]:
        return tuple(op for op in OPERATORS[self.type] if op != "is_empty" or self.can_be_empty)


def _string(column: str) -> FieldSpec:
    return FieldSpec(FieldType.STRING, column)


def _datetime(column: str, nullable: bool = False) -> FieldSpec:
    return FieldSpec(FieldType.DATETIME, column, nullable=nullable)


_COMMON = {
    "name": _string("name"),
    "owner": FieldSpec(FieldType.OWNER, "owner_id"),
    "tags": FieldSpec(FieldType.TAGS, "tags"),
    "created_at": _datetime("created_at"),
    "updated_at": _datetime("updated_at"),
}

FIELDS: dict[str, dict[str, FieldSpec]] = {
    RecordType.LEAD: {
        **_COMMON,
        "email": _string("email"),
        "phone": _string("phone"),
        "company": _string("company"),
        "currency": _string("currency"),
        "source": FieldSpec(FieldType.CHOICE, "source", choices=tuple(Source.values)),
        "stage": FieldSpec(FieldType.CHOICE, "stage", choices=tuple(Stage.values)),
        "value": FieldSpec(FieldType.NUMBER, "value"),
        "score": FieldSpec(FieldType.NUMBER, "score", integer=True),
        "stage_changed_at": _datetime("stage_changed_at"),
        "last_contacted_at": _datetime("last_contacted_at", nullable=True),
        "converted_at": _datetime("converted_at", nullable=True),
    },
    RecordType.CONTACT: {
        **_COMMON,
        "email": _string("email"),
        "phone": _string("phone"),
        "title": _string("title"),
        "account": FieldSpec(FieldType.REFERENCE, "account_id", nullable=True),
        "last_contacted_at": _datetime("last_contacted_at", nullable=True),
    },
    RecordType.ACCOUNT: {
        **_COMMON,
        "domain": _string("domain"),
        "industry": _string("industry"),
        "size": FieldSpec(FieldType.CHOICE, "size", choices=tuple(AccountSize.values), blank=True),
        "status": FieldSpec(FieldType.CHOICE, "status", choices=tuple(AccountStatus.values)),
        "last_activity_at": _datetime("last_activity_at", nullable=True),
    },
    RecordType.OPPORTUNITY: {
        **_COMMON,
        "currency": _string("currency"),
        "close_reason": _string("close_reason"),
        "stage": FieldSpec(FieldType.CHOICE, "stage", choices=tuple(OpportunityStage.values)),
        "amount": FieldSpec(FieldType.NUMBER, "amount"),
        "probability": FieldSpec(FieldType.NUMBER, "probability", integer=True),
        "expected_close_date": FieldSpec(FieldType.DATE, "expected_close_date", nullable=True),
        "closed_at": _datetime("closed_at", nullable=True),
        "account": FieldSpec(FieldType.REFERENCE, "account_id"),
        "primary_contact": FieldSpec(FieldType.REFERENCE, "primary_contact_id", nullable=True),
    },
}


class BadValue(Exception):
    """A condition's value does not fit its field and operator; the message says what would."""


# ---- values ------------------------------------------------------------------------------------------


def _list(value: Any, item: Callable[[Any], Any], *, what: str) -> list[Any]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
        raise BadValue(f"a list of 1 to {MAX_LIST} {what}")
    return [item(entry) for entry in value]


def _pair(value: Any, item: Callable[[Any], Any], *, what: str) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise BadValue(f"a list of two {what} (low, high)")
    low, high = item(value[0]), item(value[1])
    if _comparable(low) > _comparable(high):
        raise BadValue(f"two {what} with the low one first")
    return low, high


def _comparable(value: Any) -> Any:
    # a date bound against a datetime bound: compare the date at the start of its day
    if isinstance(value, date) and not isinstance(value, datetime):
        return timezone.make_aware(datetime(value.year, value.month, value.day))
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_STRING or "\x00" in value:
        raise BadValue(f"a string of at most {MAX_STRING} characters")
    return value


def _number(spec: FieldSpec) -> Callable[[Any], Decimal]:
    def parse(value: Any) -> Decimal:
        what = "an integer" if spec.integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadValue(what)
        if isinstance(value, float) and not math.isfinite(value):
            raise BadValue(what)
        number = Decimal(str(value))
        if abs(number) > MAX_NUMBER:
            raise BadValue(f"{what} between -{MAX_NUMBER} and {MAX_NUMBER}")
        if spec.integer and number != number.to_integral_value():
            raise BadValue(what)
        return number

    return parse


def _date(value: Any) -> date:
    parsed = None
    if isinstance(value, str) and len(value) <= 10:
        try:
            parsed = dateparse.parse_date(value)
        except ValueError:
            parsed = None
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise BadValue("an ISO date (YYYY-MM-DD)")
    return parsed


def _date_or_datetime(value: Any) -> date | datetime:
    """An ISO date (compared by calendar day) or an ISO date and time."""
    if isinstance(value, str) and len(value) <= 10:
        return _date(value)
    parsed = None
    if isinstance(value, str) and len(value) <= 40:
        try:
            parsed = dateparse.parse_datetime(value)
        except ValueError:
            parsed = None
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise BadValue("an ISO date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM:SSZ)")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def _choice(spec: FieldSpec) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value not in spec.choices:
            raise BadValue(f"one of {', '.join(spec.choices)}")
        return value

    return parse


def _id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise BadValue("an id (a positive integer)")
    return value


def _days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise BadValue(f"a number of days between 0 and {MAX_DAYS}")
    return value


def _tag(value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue("a tag (a string)")
    try:
        tags = normalize.tags([value])
    except InvalidInput:
        tags = []
    if len(tags) != 1:
        raise BadValue("a tag of 1 to 50 characters")
    return tags[0]


def _flag(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, bool):
        raise BadValue("true or false (or omitted)")
    return value


def _me(value: Any) -> bool:
    if value is not None and value is not True:
        raise BadValue("true (or omitted)")
    return True


def _scalar(spec: FieldSpec) -> Callable[[Any], Any]:
    return {
        FieldType.STRING: _text,
        FieldType.NUMBER: _number(spec),
        FieldType.DATE: _date,
        FieldType.DATETIME: _date_or_datetime,
        FieldType.CHOICE: _choice(spec),
        FieldType.OWNER: _id,
        FieldType.REFERENCE: _id,
    }[spec.type]


def parse_value(spec: FieldSpec, op: str, value: Any) -> Any:
    """The Python value of a condition, checked against its field's type and operator (BadValue if not)."""
    if op == "is_empty":
        return _flag(value)
    if op == "is_me":
        return _me(value)
    if op == "has_tag":
        return _tag(value)
    if op in ("older_than_days", "newer_than_days"):
        return _days(value)
    scalar = _scalar(spec)
    what = {
        FieldType.STRING: "strings",
        FieldType.NUMBER: "numbers",
        FieldType.DATE: "dates",
        FieldType.DATETIME: "dates",
        FieldType.CHOICE: "choices",
        FieldType.OWNER: "member ids",
        FieldType.REFERENCE: "ids",
    }[spec.type]
    if op == "in":
        return _list(value, scalar, what=what)
    if op == "between":
        return _pair(value, scalar, what=what)
    if op in ("contains", "icontains"):
        text = _text(value)
        if not text:
            raise BadValue("a non-empty string")
        return text
    return scalar(value)


# ---- definitions -------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _condition_error(index: int, message: str) -> InvalidInput:
    return InvalidInput("conditions", f"#{index}: {message}", code="invalid_condition", index=index)


def clean_condition(record_type: str, index: int, condition: Any) -> dict[str, Any]:
    """One condition, checked; `index` (1-based) names it in errors. Returns it as stored."""
    if not isinstance(condition, dict):
        raise _condition_error(index, "expected an object with field, op and value")
    unknown = sorted(set(condition) - {"field", "op", "value"})
    if unknown:
        raise _condition_error(index, f"unknown key {_show(unknown[0])}; use field, op and value")
    field, op = condition.get("field"), condition.get("op")
    fields = FIELDS[record_type]
    if not isinstance(field, str) or field not in fields:
        raise _condition_error(index, f"unknown field {_show(field)} for {record_type}")
    spec = fields[field]
    if not isinstance(op, str) or op not in spec.operators:
        raise _condition_error(
            index,
            f"unknown operator {_show(op)} for {field} ({spec.type}); use one of {', '.join(spec.operators)}",
        )
    if "value" not in condition and op not in ("is_empty", "is_me"):
        raise _condition_error(index, f"{field} {op} needs a value")
    value = condition.get("value")
    try:
        parsed = parse_value(spec, op, value)
    except BadValue as error:
        raise _condition_error(index, f"{field} {op} expects {error}") from None
    cleaned: dict[str, Any] = {"field": field, "op": op}
    if "value" in condition:
        cleaned["value"] = parsed if op == "has_tag" else value  # tags are stored normalized
    return cleaned


def clean_definition(record_type: str, definition: Any) -> dict[str, Any]:
    """{"match": "all"|"any", "conditions": [...]} with every condition checked against the whitelist.

    Errors name `definition`, `match` or `conditions` (with the condition's number)."""
    if record_type not in FIELDS:
        raise InvalidInput("record_type", f"Expected one of {', '.join(FIELDS)}.")
    definition = clean_metadata(definition, field="definition")
    unknown = sorted(set(definition) - {"match", "conditions"})
    if unknown:
        raise InvalidInput("definition", f"Unknown key {_show(unknown[0])}; use match and conditions.")
    match = definition.get("match", "all")
    if match not in ("all", "any"):
        raise InvalidInput("match", 'Expected "all" or "any".')
    conditions = definition.get("conditions", [])
    if not isinstance(conditions, list):
        raise InvalidInput("conditions", "Expected a list of conditions.")
    if len(conditions) > MAX_CONDITIONS:
        raise InvalidInput("conditions", f"At most {MAX_CONDITIONS} conditions.")
    return {
        "match": match,
        "conditions": [
            clean_condition(record_type, index, condition) for index, condition in enumerate(conditions, 1)
        ],
    }


# ---- queries -----------------------------------------------------------------------------------------


def _empty(spec: FieldSpec) -> Q:
    if spec.type in (FieldType.STRING, FieldType.CHOICE) and not spec.nullable:
        return Q(**{spec.column: ""})
    if spec.type == FieldType.TAGS:
        return Q(**{spec.column: []})
    return Q(**{f"{spec.column}__isnull": True})


def _compare(spec: FieldSpec, lookup: str, value: Any) -> Q:
    """column <lookup> value; a date against a datetime column compares calendar days."""
    column = spec.column
    if spec.type == FieldType.DATETIME and not isinstance(value, datetime):
        column = f"{column}__date"
    return Q(**{f"{column}__{lookup}": value} if lookup != "exact" else {column: value})


def _since(spec: FieldSpec, days: int, now: datetime) -> date | datetime:
    if spec.type == FieldType.DATE:
        return timezone.localdate(now) - timedelta(days=days)
    return now - timedelta(days=days)


def condition_q(record_type: str, condition: dict[str, Any], *, actor_id: int | None, now: datetime) -> Q:
    """The Q object of one (cleaned) condition. Relative operators resolve against `now` and the actor."""
    spec = FIELDS[record_type][condition["field"]]
    op = condition["op"]
    value = parse_value(spec, op, condition.get("value"))
    if op == "is_empty":
        return _empty(spec) if value else ~_empty(spec)
    if op == "is_me":
        return Q(**{spec.column: actor_id})
    if op == "has_tag":
        return Q(**{f"{spec.column}__contains": [value]})
    if op == "older_than_days":
        return Q(**{f"{spec.column}__lt": _since(spec, value, now)})
    if op == "newer_than_days":
        return Q(**{f"{spec.column}__gte": _since(spec, value, now)})
    if op == "in":
        return Q(**{f"{spec.column}__in": value})
    if op == "between":
        return _compare(spec, "gte", value[0]) & _compare(spec, "lte", value[1])
    if op == "eq":
        return _compare(spec, "exact", value)
    if op == "ne":
        return ~_compare(spec, "exact", value)
    return _compare(spec, op, value)  # gt, gte, lt, lte, contains, icontains


def definition_q(record_type: str, definition: dict[str, Any], *, actor_id: int | None, now: datetime) -> Q:
    """The whole definition as one Q: every condition (match all) or at least one (match any)."""
    conditions = [
        condition_q(record_type, condition, actor_id=actor_id, now=now)
        for condition in definition.get("conditions", [])
    ]
    if not conditions:
        return Q()
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition if definition.get("match", "all") == "all" else combined | condition
    return combined
