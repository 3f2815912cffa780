"""What a rule (or a scoring rule) may test on a lead: a whitelist of fields with their types, the operators
each type allows, and the evaluation of a checked condition against a lead's current state.

A condition is {"field": <name>, "op": <operator>, "value": <value>}. Strings compare without regard to
case. Errors name the condition by its place: `conditions[2].op`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from django.db.models import Q

from shared_apps.core.errors import InvalidInput
from shared_apps.users.models import User
from tenant_apps.leads.models import Lead, Source, Stage
from tenant_apps.records import normalize

MAX_CONDITIONS = 20
MAX_LIST = 100
MAX_STRING = 200
MAX_NUMBER = Decimal("1000000000000")
MAX_DAYS = 36_500
MAX_ID = 2**63 - 1


class FieldType(StrEnum):
    STRING = "string"
    CHOICE = "choice"
    NUMBER = "number"
    INTEGER = "integer"
    MEMBER = "member"
    TAGS = "tags"
    DATETIME = "datetime"


EMPTINESS = ("is_empty", "is_not_empty")
OPERATORS: dict[FieldType, tuple[str, ...]] = {
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
    FieldType.CHOICE: ("eq", "ne", "in", "not_in"),
    FieldType.NUMBER: ("eq", "ne", "gt", "gte", "lt", "lte", "between"),
    FieldType.INTEGER: ("eq", "ne", "gt", "gte", "lt", "lte", "between"),
    FieldType.MEMBER: ("eq", "ne", "in", "not_in", *EMPTINESS),
    FieldType.TAGS: ("contains", "not_contains", *EMPTINESS),
    FieldType.DATETIME: ("older_than_days", "newer_than_days"),
}


@dataclass(frozen=True)
class FieldSpec:
    type: FieldType
    attr: str
    choices: tuple[str, ...] = ()
    nullable: bool = False

    @property
    def operators(self) -> tuple[str, ...]:
        if self.type == FieldType.DATETIME and self.nullable:
            return (*OPERATORS[self.type], *EMPTINESS)
        return OPERATORS[self.type]


FIELDS: dict[str, FieldSpec] = {
    "name": FieldSpec(FieldType.STRING, "name"),
    "email": FieldSpec(FieldType.STRING, "email"),
    "phone": FieldSpec(FieldType.STRING, "phone"),
    "company": FieldSpec(FieldType.STRING, "company"),
    "currency": FieldSpec(FieldType.STRING, "currency"),
    "source": FieldSpec(FieldType.CHOICE, "source", choices=tuple(Source.values)),
    "stage": FieldSpec(FieldType.CHOICE, "stage", choices=tuple(Stage.values)),
    "value": FieldSpec(FieldType.NUMBER, "value"),
    "score": FieldSpec(FieldType.INTEGER, "score"),
    "owner": FieldSpec(FieldType.MEMBER, "owner_id", nullable=True),
    "tags": FieldSpec(FieldType.TAGS, "tags"),
    "created_at": FieldSpec(FieldType.DATETIME, "created_at"),
    "stage_changed_at": FieldSpec(FieldType.DATETIME, "stage_changed_at"),
    "last_contacted_at": FieldSpec(FieldType.DATETIME, "last_contacted_at", nullable=True),
}


class BadValue(Exception):
    """A value does not fit its field and operator; the message says what would."""


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---- values ------------------------------------------------------------------------------------------


def parse_text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_STRING or "\x00" in value:
        raise BadValue(f"a string of at most {MAX_STRING} characters")
    return value


def parse_number(value: Any, *, integer: bool = False) -> Decimal:
    what = "an integer" if integer else "a number"
    if isinstance(value, bool):
        raise BadValue(what)
    if isinstance(value, float) and not math.isfinite(value):
        raise BadValue(what)
    if isinstance(value, int | float):
        number = Decimal(str(value))
    elif isinstance(value, str) and len(value) <= 30:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise BadValue(what) from None
        if not number.is_finite():
            raise BadValue(what)
    else:
        raise BadValue(what)
    if abs(number) > MAX_NUMBER:
        raise BadValue(f"{what} between -{MAX_NUMBER} and {MAX_NUMBER}")
    if integer and number != number.to_integral_value():
        raise BadValue(what)
    return number


def parse_choice(spec: FieldSpec, value: Any) -> str:
    if isinstance(value, str):
        for choice in spec.choices:
            if choice.casefold() == value.casefold():
                return choice
    raise BadValue(f"one of {', '.join(spec.choices)}")


def parse_member(value: Any, *, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise BadValue("a member id")
    if not User.objects.filter(pk=value).exists():
        raise BadValue("the id of a member of this organization")
    return value


def parse_tag(value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue("a tag (a string)")
    try:
        tags = normalize.tags([value])
    except InvalidInput:
        tags = []
    if len(tags) != 1:
        raise BadValue("a tag of 1 to 50 characters")
    return tags[0]


def parse_days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise BadValue(f"a whole number of days from 0 to {MAX_DAYS}")
    return value


def parse_scalar(spec: FieldSpec, value: Any) -> Any:
    """One value of the field's type (as `to`/`from` of a field_changed trigger or `value` of eq)."""
    if spec.type == FieldType.STRING:
        return parse_text(value)
    if spec.type == FieldType.CHOICE:
        return parse_choice(spec, value)
    if spec.type in (FieldType.NUMBER, FieldType.INTEGER):
        return parse_number(value, integer=spec.type == FieldType.INTEGER)
    if spec.type == FieldType.MEMBER:
        return parse_member(value, nullable=spec.nullable)
    if spec.type == FieldType.TAGS:
        return parse_tag(value)
    raise BadValue("no value: this field is compared in days")


def _stored(spec: FieldSpec, parsed: Any) -> Any:
    """How a parsed value is kept in the rule's JSON (numbers as exact decimal strings)."""
    if isinstance(parsed, Decimal):
        return int(parsed) if spec.type == FieldType.INTEGER else str(parsed)
    return parsed


def parse_value(spec: FieldSpec, op: str, value: Any) -> Any:
    """The stored form of a condition's value, checked against its field's type and operator."""
    if op in EMPTINESS:
        if value is not None:
            raise BadValue("no value")
        return None
    if op in ("older_than_days", "newer_than_days"):
        return parse_days(value)
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
            raise BadValue(f"a list of 1 to {MAX_LIST} values")
        return [_stored(spec, parse_scalar(spec, item)) for item in value]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise BadValue("a list of two numbers (low, high)")
        low, high = (parse_scalar(spec, item) for item in value)
        if low > high:
            raise BadValue("two numbers with the low one first")
        return [_stored(spec, low), _stored(spec, high)]
    if op in ("contains", "not_contains", "starts_with", "ends_with") and spec.type == FieldType.STRING:
        text = parse_text(value)
        if not text:
            raise BadValue("a non-empty string")
        return text
    return _stored(spec, parse_scalar(spec, value))


# ---- definitions -------------------------------------------------------------------------------------


def _error(prefix: str, key: str, message: str, **details: Any) -> InvalidInput:
    return InvalidInput(f"{prefix}.{key}" if key else prefix, message, code="invalid_condition", **details)


def clean_condition(condition: Any, *, prefix: str) -> dict[str, Any]:
    """One condition checked against the whitelist; errors name `<prefix>.<key>`. Returns it as stored."""
    if not isinstance(condition, dict):
        raise _error(prefix, "", "Expected an object with field, op and value.")
    unknown = sorted(set(condition) - {"field", "op", "value"})
    if unknown:
        raise _error(prefix, unknown[0], "Unknown key; a condition has field, op and value.")
    field, op = condition.get("field"), condition.get("op")
    if not isinstance(field, str) or field not in FIELDS:
        raise _error(prefix, "field", f"Unknown field {show(field)}; use one of {', '.join(FIELDS)}.")
    spec = FIELDS[field]
    if not isinstance(op, str) or op not in spec.operators:
        raise _error(
            prefix,
            "op",
            f"Unknown operator {show(op)} for {field} ({spec.type}); use one of {', '.join(spec.operators)}.",
        )
    if "value" not in condition and op not in EMPTINESS:
        raise _error(prefix, "value", f"{field} {op} needs a value.")
    try:
        value = parse_value(spec, op, condition.get("value"))
    except BadValue as error:
        raise _error(prefix, "value", f"{field} {op} expects {error}.") from None
    cleaned: dict[str, Any] = {"field": field, "op": op}
    if op not in EMPTINESS:
        cleaned["value"] = value
    return cleaned


def clean_conditions(conditions: Any) -> list[dict[str, Any]]:
    if conditions is None:
        return []
    if not isinstance(conditions, list):
        raise InvalidInput("conditions", "Expected a list of conditions.")
    if len(conditions) > MAX_CONDITIONS:
        raise InvalidInput("conditions", f"At most {MAX_CONDITIONS} conditions.")
    return [clean_condition(item, prefix=f"conditions[{index}]") for index, item in enumerate(conditions)]


# ---- evaluation --------------------------------------------------------------------------------------


def _fold(value: Any) -> str:
    return str(value or "").casefold()


def _number(value: Any) -> Decimal:
    return Decimal(str(value))


def _compare(spec: FieldSpec, current: Any, op: str, value: Any) -> bool:
    if spec.type == FieldType.STRING:
        text = _fold(current)
        tests: dict[str, Callable[[], bool]] = {
            "eq": lambda: text == _fold(value),
            "ne": lambda: text != _fold(value),
            "in": lambda: text in {_fold(item) for item in value},
            "not_in": lambda: text not in {_fold(item) for item in value},
            "contains": lambda: _fold(value) in text,
            "not_contains": lambda: _fold(value) not in text,
            "starts_with": lambda: text.startswith(_fold(value)),
            "ends_with": lambda: text.endswith(_fold(value)),
        }
        return tests[op]()
    if spec.type in (FieldType.NUMBER, FieldType.INTEGER):
        number = _number(current)
        if op == "between":
            return _number(value[0]) <= number <= _number(value[1])
        other = _number(value)
        return {
            "eq": number == other,
            "ne": number != other,
            "gt": number > other,
            "gte": number >= other,
            "lt": number < other,
            "lte": number <= other,
        }[op]
    if spec.type == FieldType.TAGS:
        present = value in (current or [])
        return present if op == "contains" else not present
    # choices and members compare exactly
    return {
        "eq": lambda: current == value,
        "ne": lambda: current != value,
        "in": lambda: current in value,
        "not_in": lambda: current not in value,
    }[op]()


def condition_holds(condition: dict[str, Any], lead: Lead, *, now: datetime) -> bool:
    """Whether a (cleaned) condition holds for the lead as it is now."""
    spec = FIELDS[condition["field"]]
    op = condition["op"]
    current = getattr(lead, spec.attr)
    if op in EMPTINESS:
        empty = current in (None, "", [])
        return empty if op == "is_empty" else not empty
    if op in ("older_than_days", "newer_than_days"):
        if current is None:
            return False
        cutoff = now - timedelta(days=condition["value"])
        return current < cutoff if op == "older_than_days" else current >= cutoff
    return _compare(spec, current, op, condition["value"])


def conditions_hold(conditions: list[dict[str, Any]], lead: Lead, *, match: str, now: datetime) -> bool:
    """All conditions (match "all") or at least one (match "any"); no conditions always hold."""
    if not conditions:
        return True
    results = (condition_holds(condition, lead, now=now) for condition in conditions)
    return all(results) if match == "all" else any(results)


# ---- the same conditions as a query (periodic scans) ---------------------------------------------------


def _text_q(column: str, op: str, value: Any) -> Q:
    if op in ("in", "not_in"):
        matches = Q(pk__in=[])
        for item in value:
            matches |= Q(**{f"{column}__iexact": item})
        return matches if op == "in" else ~matches
    lookup = {
        "eq": "iexact",
        "ne": "iexact",
        "contains": "icontains",
        "not_contains": "icontains",
        "starts_with": "istartswith",
        "ends_with": "iendswith",
    }[op]
    matches = Q(**{f"{column}__{lookup}": value})
    return ~matches if op in ("ne", "not_contains") else matches


def condition_q(condition: dict[str, Any], *, now: datetime) -> Q:
    """The Q object of a (cleaned) condition, holding for the same leads as condition_holds."""
    spec = FIELDS[condition["field"]]
    op, column = condition["op"], spec.attr
    value: Any = condition.get("value")
    if op in EMPTINESS:
        if spec.type == FieldType.TAGS:
            empty = Q(**{column: []})
        elif spec.type == FieldType.STRING:
            empty = Q(**{column: ""})
        else:
            empty = Q(**{f"{column}__isnull": True})
        return empty if op == "is_empty" else ~empty
    if op in ("older_than_days", "newer_than_days"):
        cutoff = now - timedelta(days=value)
        return Q(**{f"{column}__lt" if op == "older_than_days" else f"{column}__gte": cutoff})
    if spec.type == FieldType.STRING:
        return _text_q(column, op, value)
    if spec.type == FieldType.TAGS:
        has = Q(**{f"{column}__contains": [value]})
        return has if op == "contains" else ~has
    if op == "between":
        return Q(**{f"{column}__gte": _number(value[0]), f"{column}__lte": _number(value[1])})
    if spec.type in (FieldType.NUMBER, FieldType.INTEGER):
        value = _number(value)
    if op in ("in", "not_in"):
        matches = Q(**{f"{column}__in": [item for item in value if item is not None]})
        if None in value:
            matches |= Q(**{f"{column}__isnull": True})
        return matches if op == "in" else ~matches
    if op in ("eq", "ne"):
        matches = Q(**{f"{column}__isnull": True}) if value is None else Q(**{column: value})
        return matches if op == "eq" else ~matches
    return Q(**{f"{column}__{op}": value})  # gt, gte, lt, lte


def conditions_q(conditions: list[dict[str, Any]], *, match: str, now: datetime) -> Q:
    if not conditions:
        return Q()
    combined = condition_q(conditions[0], now=now)
    for condition in conditions[1:]:
        query = condition_q(condition, now=now)
        combined = combined & query if match == "all" else combined | query
    return combined
