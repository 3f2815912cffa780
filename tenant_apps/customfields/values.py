"""Custom field values: the contract every other app calls (record services, serializers, filters, imports,
exports, the web app). Nothing else in this app is meant to be imported by other apps, except the read-only
`models` (for type names) and `queries` (filters on values).

Storage: a record's values live in its own row, in the JSONB column `custom` that every customer record has
(tenant_apps.records.models.CustomerRecord), as {"<key>": <stored value>}. Absent key = no value (null is
never stored). A field that is filterable gets an expression index in the organization's own schema, built
CONCURRENTLY by a job after the definition commits (tenant_apps.customfields.indexes), so adding, renaming or
removing a field is a row in `customfields_customfield` of that one schema and never a migration.

Stored (and API) representation per type, the same on input and output except where noted:

    text, long_text  str (stripped; 255 / 10,000 characters at most; no NUL)
    number           str, an exact decimal ("12.5"; input: a JSON number or a numeric string)
    money            {"amount": "12.50", "currency": "EUR"}: amount as number, 2 places at most; the
                     currency is the organization's base currency or one it has exchange rates for
    date             "YYYY-MM-DD"
    datetime         "YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC (input: ISO 8601; without an offset it is read in
                     the zone in force); fixed width, so text order is time order (what the index compares)
    boolean          true / false
    single_select    an option id (input: an option id, or an option's label, case-insensitive)
    multi_select     a list of option ids in the options' order, no repeats (input: ids or labels)
    url              str, an http(s) URL (2,000 characters at most)
    email            str, lower-cased address
    phone            str, E.164 with the organization's region (tenant_apps.records.normalize.phone)
    member           int, the id of an active member of this organization

Functions:

- `definitions(record_type)`: the active fields of a record type, ordered by position (memoized per request
  and job; `forget()` drops the memo, which every definition change does).
- `validate_values(record_type, values, *, partial, instance)`: the `custom` object to store on the record.
  `values` is the client's {"<key>": value}; null removes a value. `partial=False` (create): required fields
  must have a value; `partial=True` (update): the other values of `instance.custom` are kept and a required
  field cannot be cleared. Raises InvalidInput naming `custom.<key>` (400), or `custom` when `values` is no
  object.
- `serialize_values(record_type, record)`: the record's values of the active fields, as the API shows them
  (only defined fields: values of a field being deleted are never shown).
- `record_model(record_type)`: the model class of a record type (resolved by the app registry: this app
  imports no record app).
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.core.signals import request_finished, request_started
from django.core.validators import URLValidator
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from shared_apps.core.db import connection
from shared_apps.core.errors import InvalidInput
from shared_apps.organizations.context import cache_changed, cache_get, kept_in_process
from shared_apps.users.models import User
from tenant_apps.customfields.models import CustomField, FieldKind, FieldState, RecordType
from tenant_apps.records import normalize

MODELS = {
    RecordType.LEAD: "leads.Lead",
    RecordType.CONTACT: "contacts.Contact",
    RecordType.ACCOUNT: "accounts.Account",
    RecordType.OPPORTUNITY: "opportunities.Opportunity",
}
MAX_TEXT = 255
MAX_LONG_TEXT = 10_000
MAX_URL = 2000
MAX_DIGITS = 18
MAX_PLACES = 6
MAX_ID = 2**63 - 1
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_memo = threading.local()


def record_model(record_type: str) -> type[models.Model]:
    return apps.get_model(MODELS[RecordType(record_type)])


def forget(**_: Any) -> None:
    """Drop the memoized definitions (at each request's start and end, and on every definition change)."""
    _memo.__dict__.clear()


def _forget_currencies(**_: Any) -> None:
    _memo.__dict__.pop("currencies", None)


request_started.connect(forget, dispatch_uid="customfields.forget.start")
# an exchange rate added or removed changes which currencies money values may use
for _signal, _uid in ((post_save, "saved"), (post_delete, "deleted")):
    _signal.connect(
        _forget_currencies, sender="currency.ExchangeRate", dispatch_uid=f"customfields.rates.{_uid}"
    )
request_finished.connect(forget, dispatch_uid="customfields.forget.end")


CACHE_TIMEOUT = 300
_COLUMNS = (
    "id",
    "record_type",
    "key",
    "label",
    "type",
    "required",
    "options",
    "position",
    "filterable",
    "on_card",
)


def _cache_key(record_type: str) -> str:
    return f"customfields:definitions:{record_type}"  # the default cache adds the organization's namespace


# a lead list page reads the lead fields' definitions: each process keeps them
kept_in_process(_cache_key(RecordType.LEAD))


def cache_drop() -> None:
    """Forget the definitions cached for the current organization (every change does, now and on commit)."""
    caches["default"].delete_many([_cache_key(record_type) for record_type in RecordType.values])
    cache_changed(_cache_key(RecordType.LEAD))


def definitions(record_type: str) -> list[CustomField]:
    """The active fields of `record_type` in the current organization, by position: memoized per request or
    job, and cached in the default cache between requests (a list costs no query for them)."""
    key = (connection.schema_name, record_type)
    memo = getattr(_memo, "definitions", None)
    if memo is None:
        memo = _memo.definitions = {}
    if key not in memo:
        rows = cache_get(_cache_key(record_type))
        if rows is None:
            rows = list(
                CustomField.objects.filter(record_type=record_type, state=FieldState.ACTIVE)
                .order_by("position", "id")
                .values(*_COLUMNS)
            )
            caches["default"].set(_cache_key(record_type), rows, CACHE_TIMEOUT)
        memo[key] = [CustomField(**row) for row in rows]
    return list(memo[key])


def event_values(record_type: str, record: Any) -> dict[str, Any]:
    """What a record's events carry of its custom values: {"custom": {...}} when the organization defines
    fields of that record type, nothing otherwise (payloads of organizations without any keep their shape)."""
    if not definitions(record_type):
        return {}
    return {"custom": serialize_values(record_type, record)}


def serialize_values(record_type: str, record: Any) -> dict[str, Any]:
    stored = getattr(record, "custom", None) or {}
    return {field.key: stored[field.key] for field in definitions(record_type) if field.key in stored}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def validate_values(record_type: str, values: Any, *, partial: bool, instance: Any = None) -> dict[str, Any]:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise InvalidInput("custom", 'Expected an object of custom field values: {"<key>": value}.')
    fields = {field.key: field for field in definitions(record_type)}
    unknown = sorted(key for key in values if key not in fields)
    if unknown:
        raise InvalidInput(
            f"custom.{unknown[0]}", f"No custom field {unknown[0]!r} on {record_type}s.", code="unknown_field"
        )
    stored: dict[str, Any] = dict(getattr(instance, "custom", None) or {}) if partial else {}
    for key, value in values.items():
        if _empty(value):
            stored.pop(key, None)
        else:
            stored[key] = clean_value(fields[key], value)
    for field in fields.values():
        if field.required and _empty(stored.get(field.key)) and (not partial or field.key in values):
            raise InvalidInput(f"custom.{field.key}", f"{field.label} is required.", code="required")
    return stored


def clean_value(field: CustomField, value: Any) -> Any:
    """One value as stored, or InvalidInput naming custom.<key>."""
    try:
        return _CLEANERS[FieldKind(field.type)](field, value)
    except _Bad as bad:
        raise InvalidInput(f"custom.{field.key}", bad.message, code="invalid_custom_value") from None


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _text(limit: int) -> Any:
    def clean(field: CustomField, value: Any) -> str:
        if not isinstance(value, str):
            raise _Bad("Expected a string.")
        value = value.strip()
        if "\x00" in value:
            raise _Bad("Text may not contain NUL characters.")
        if len(value) > limit:
            raise _Bad(f"At most {limit} characters.")
        return value

    return clean


def decimal_of(value: Any, *, places: int = MAX_PLACES) -> Decimal:
    """An exact decimal from a JSON number or a numeric string (never a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _Bad("Expected a number.")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Bad("Expected a number.") from None
    if not number.is_finite():
        raise _Bad("Expected a finite number.")
    if abs(number) >= Decimal(10) ** (MAX_DIGITS - places):
        raise _Bad(f"At most {MAX_DIGITS - places} digits before the decimal point.")
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise _Bad(f"At most {places} decimal places.")
    return number


def _plain(number: Decimal) -> str:
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number(field: CustomField, value: Any) -> str:
    return _plain(decimal_of(value))


def currencies() -> set[str]:
    """The organization's currencies: its base currency and those it has exchange rates for."""
    from tenant_apps.currency.models import ExchangeRate  # the currency app reads organization settings
    from tenant_apps.currency.selectors import base_currency

    key = connection.schema_name
    cached = getattr(_memo, "currencies", None)
    if cached is None or cached[0] != key:  # memoized like the definitions (an import cleans many cells)
        cached = _memo.currencies = (
            key,
            {base_currency(), *ExchangeRate.objects.values_list("currency", flat=True).distinct()},
        )
    return set(cached[1])


def _money(field: CustomField, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) - {"amount", "currency"} or "amount" not in value:
        raise _Bad('Expected {"amount": number, "currency": "XXX"}.')
    amount = decimal_of(value["amount"], places=2)
    currency = value.get("currency")
    allowed = currencies()
    if currency is None:
        from tenant_apps.currency.selectors import base_currency

        currency = base_currency()
    if not isinstance(currency, str) or currency.strip().upper() not in allowed:
        raise _Bad(f"The currency is one of this organization's: {', '.join(sorted(allowed))}.")
    return {"amount": f"{amount.quantize(Decimal('0.01')):f}", "currency": currency.strip().upper()}


def _date(field: CustomField, value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("Expected a date, YYYY-MM-DD.")
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise _Bad("Expected a date, YYYY-MM-DD.") from None


def as_utc_text(moment: datetime) -> str:
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment.astimezone(UTC).strftime(DATETIME_FORMAT)


def _datetime(field: CustomField, value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("Expected a date and time, ISO 8601.")
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise _Bad("Expected a date and time, ISO 8601.")
    return as_utc_text(moment)


def _boolean(field: CustomField, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("Expected true or false.")
    return value


def option_id(field: CustomField, value: Any) -> str:
    """An option's id from its id or (case-insensitive) label."""
    if isinstance(value, str):
        for option in field.options:
            if option["id"] == value:
                return str(option["id"])
        folded = value.strip().casefold()
        for option in field.options:
            if option["label"].casefold() == folded:
                return str(option["id"])
    labels = ", ".join(option["label"] for option in field.options)
    raise _Bad(f"Expected one of the options: {labels}.")


def _single(field: CustomField, value: Any) -> str:
    return option_id(field, value)


def _multi(field: CustomField, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise _Bad("Expected a list of options.")
    chosen = {option_id(field, item) for item in value}
    return [oid for oid in field.option_ids() if oid in chosen]


_URL = URLValidator(schemes=["http", "https"])


def _url(field: CustomField, value: Any) -> str:
    text = _text(MAX_URL)(field, value)
    try:
        _URL(text)
    except ValidationError:
        raise _Bad("Expected an http(s) URL.") from None
    return text


def _email(field: CustomField, value: Any) -> str:
    text = _text(254)(field, value)
    try:
        return normalize.email(text)
    except InvalidInput:
        raise _Bad("Enter a valid email address.") from None


def _phone(field: CustomField, value: Any) -> str:
    text = _text(40)(field, value)
    try:
        return normalize.phone(text)
    except InvalidInput as error:
        raise _Bad(error.message) from None


def _member(field: CustomField, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"\d{1,19}", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise _Bad("Expected a member id.")
    if not User.objects.filter(pk=value, is_active=True).exists():
        raise _Bad("Not an active member of this organization.")
    return value


_CLEANERS: dict[FieldKind, Any] = {
    FieldKind.TEXT: _text(MAX_TEXT),
    FieldKind.LONG_TEXT: _text(MAX_LONG_TEXT),
    FieldKind.NUMBER: _number,
    FieldKind.MONEY: _money,
    FieldKind.DATE: _date,
    FieldKind.DATETIME: _datetime,
    FieldKind.BOOLEAN: _boolean,
    FieldKind.SINGLE_SELECT: _single,
    FieldKind.MULTI_SELECT: _multi,
    FieldKind.URL: _url,
    FieldKind.EMAIL: _email,
    FieldKind.PHONE: _phone,
    FieldKind.MEMBER: _member,
}
