"""List filters on custom fields, from query parameters, for every record list (and its export): the same
spellings as the built-in filters.

    ?custom.<key>=<value>            equals (selects: an option id or label; several, comma-separated, for
                                     any of them; a multi select holds it); booleans true/false; members an id
    ?custom.<key>_min= / _max=       number and money (the amount) ranges, both ends included
    ?custom.<key>_after= / _before=  date and datetime ranges (after: on or after; before: strictly before)
    ?custom.<key>=none               no value

Only filterable fields may be filtered on (they are the indexed ones); anything else is a 400 naming
`custom.<key>`. The queries use the expressions of tenant_apps.customfields.queries, which the per-field
indexes are built on."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from django.db.models import Q
from django.utils.dateparse import parse_datetime

from shared_apps.core.errors import InvalidInput
from tenant_apps.customfields import queries
from tenant_apps.customfields.models import SELECTS, CustomField, FieldKind
from tenant_apps.customfields.values import as_utc_text, clean_value, decimal_of, definitions

PREFIX = "custom."
RANGES = {"_min": "low", "_max": "high", "_after": "low", "_before": "high"}
NUMERIC_SUFFIXES = ("_min", "_max")
TIME_SUFFIXES = ("_after", "_before")
MAX_VALUES = 100


def _resolve(name: str, fields: dict[str, CustomField]) -> tuple[CustomField, str]:
    """The field and the suffix ("" for equality) a parameter name means; an exact key wins."""
    if name in fields:
        return fields[name], ""
    for suffix in RANGES:
        if name.endswith(suffix) and name.removesuffix(suffix) in fields:
            return fields[name.removesuffix(suffix)], suffix
    raise InvalidInput(f"custom.{name}", "No such custom field.", code="unknown_field")


def _bound(field: CustomField, suffix: str, raw: str) -> Any:
    where = f"custom.{field.key}{suffix}"
    if field.type in queries.NUMERIC:
        if suffix not in NUMERIC_SUFFIXES:
            raise InvalidInput(where, f"Use custom.{field.key}_min or _max for a number.")
        try:
            return decimal_of(raw, places=6)
        except Exception:
            raise InvalidInput(where, "Expected a number.") from None
    if field.type in (FieldKind.DATE, FieldKind.DATETIME):
        if suffix not in TIME_SUFFIXES:
            raise InvalidInput(where, f"Use custom.{field.key}_after or _before for a date.")
        return _time_bound(field, raw, where)
    raise InvalidInput(where, "Ranges are for number, money, date and datetime fields.")


def _time_bound(field: CustomField, raw: str, where: str) -> str:
    """A bound as the stored ISO text compares: a date, or an instant in UTC for datetimes (a date alone
    for a datetime field means its midnight in the zone in force)."""
    text = raw.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if field.type == FieldKind.DATE:
        if day is None:
            raise InvalidInput(where, "Expected a date, YYYY-MM-DD.")
        return day.isoformat()
    try:
        moment = parse_datetime(text) if day is None else parse_datetime(f"{text}T00:00:00")
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidInput(where, "Expected a date or an ISO 8601 date and time.")
    return as_utc_text(moment)


def _equality(field: CustomField, raw: str) -> Q:
    if raw == "none":
        return queries.empty_q(field)
    parts = [part for part in raw.split(",") if part.strip()] if field.type in SELECTS else [raw]
    if not 1 <= len(parts) <= MAX_VALUES:
        raise InvalidInput(f"custom.{field.key}", f"1 to {MAX_VALUES} values.")
    if field.type == FieldKind.BOOLEAN:
        if raw not in ("true", "false"):
            raise InvalidInput(f"custom.{field.key}", "Expected true or false.")
        return queries.equals_q(field, raw == "true")
    if field.type == FieldKind.MONEY:
        raise InvalidInput(f"custom.{field.key}", f"Use custom.{field.key}_min and _max for money.")
    cleaned = [clean_value(_as_single(field), _typed(field, part)) for part in parts]
    if field.type == FieldKind.MULTI_SELECT:
        query = Q()
        for option in cleaned:
            query |= queries.equals_q(field, [option])
        return query
    if len(cleaned) > 1:
        return queries.in_q(field, cleaned)
    return queries.equals_q(field, cleaned[0])


def _as_single(field: CustomField) -> CustomField:
    """A multi select's options checked one by one, as a single select's value."""
    if field.type != FieldKind.MULTI_SELECT:
        return field
    return CustomField(key=field.key, label=field.label, type=FieldKind.SINGLE_SELECT, options=field.options)


def _typed(field: CustomField, raw: str) -> Any:
    """A query string's text as the value type clean_value expects."""
    if field.type == FieldKind.NUMBER:
        return raw.strip()
    if field.type == FieldKind.MEMBER:
        return int(raw) if raw.isdigit() and len(raw) <= 18 else raw
    return raw


def custom_filter_q(record_type: str, params: Mapping[str, Any]) -> Q | None:
    """The Q of every `custom.*` parameter in `params` (None when there is none)."""
    names = [name for name in params if isinstance(name, str) and name.startswith(PREFIX)]
    if not names:
        return None
    fields = {field.key: field for field in definitions(record_type)}
    query = Q()
    for name in names:
        raw = params.get(name)
        if not isinstance(raw, str):
            raise InvalidInput(name, "Expected one value.")
        field, suffix = _resolve(name.removeprefix(PREFIX), fields)
        if not field.filterable:
            raise InvalidInput(f"custom.{field.key}", "This field is not filterable.", code="not_filterable")
        if suffix:
            bound = _bound(field, suffix, raw)
            low, high = (bound, None) if RANGES[suffix] == "low" else (None, bound)
            if suffix == "_before":  # strictly before, as created_before
                query &= Q(queries.Less(queries.CustomValue(field.type, field.key), bound))
            else:
                query &= queries.range_q(field, low, high)
        else:
            query &= _equality(field, raw)
    return query
