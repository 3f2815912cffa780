"""Writes of exchange rates (admins, through the API): one rate per currency and day, set again by
writing the same day."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import transaction

from shared_apps.core.errors import InvalidInput, NotFound
from shared_apps.core.events import publish_on_commit
from shared_apps.organizations.context import current_organization
from tenant_apps.currency.models import ExchangeRate
from tenant_apps.currency.selectors import base_currency

CSV_COLUMNS = ("currency", "rate", "valid_from")
MAX_CSV_ROWS = 10_000


def _checked(*, currency: str, rate: Decimal, field: str = "") -> str:
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput(f"{field}currency", "A currency is a three-letter ISO 4217 code.")
    if currency == base_currency():
        raise InvalidInput(f"{field}currency", f"{currency} is the base currency: its rate is always 1.")
    if not rate.is_finite() or rate <= 0:
        raise InvalidInput(f"{field}rate", "A rate must be a number greater than 0.")
    return currency


@transaction.atomic
def exchange_rate_set(*, currency: str, rate: Decimal, valid_from: date) -> ExchangeRate:
    """`rate` base units per unit of `currency` from `valid_from`; a rate already set for that currency
    and day is replaced (rates > 0; the base currency takes none)."""
    currency = _checked(currency=currency, rate=rate)
    found, _ = ExchangeRate.objects.update_or_create(
        currency=currency, valid_from=valid_from, defaults={"rate": rate}
    )
    # reports in the base currency read the rates: they recompute (analytics subscribes)
    publish_on_commit("exchange_rate.changed", record_id=found.pk, currency=currency)
    return found


@transaction.atomic
def base_currency_set(*, currency: str) -> tuple[str, str]:
    """Make `currency` the organization's base currency (its default_currency: what reports are in and new
    records default to). Only while it has no exchange rates: every rate is quoted in the base currency, and
    silently reading them against another would misstate every converted figure (delete them, change the
    base, set them again). Returns (previous, current)."""
    code = currency.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise InvalidInput("base_currency", "A currency is a three-letter ISO 4217 code.")
    organization = current_organization()
    previous = organization.default_currency.upper()
    if code == previous:
        return previous, code
    if ExchangeRate.objects.exists():
        raise InvalidInput(
            "base_currency",
            f"The exchange rates are quoted in {previous}: delete them before changing the base currency.",
            code="rates_in_base_currency",
        )
    organization.default_currency = code
    organization.save(update_fields=["default_currency"])
    # reports in the base currency recompute (analytics subscribes to exchange rate changes)
    publish_on_commit("exchange_rate.base_changed", record_id=0, previous=previous, current=code)
    return previous, code


@transaction.atomic
def exchange_rate_delete(*, rate_id: int) -> None:
    deleted, _ = ExchangeRate.objects.filter(id=rate_id).delete()
    if not deleted:
        raise NotFound("No such exchange rate.")
    publish_on_commit("exchange_rate.deleted", record_id=rate_id)


@transaction.atomic
def exchange_rates_import(*, text: str) -> int:
    """Rates from CSV with the header currency,rate,valid_from (YYYY-MM-DD). All or nothing: the first bad
    line is a 400 naming the line and the column, and nothing is written."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in CSV_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput("file", f"The CSV needs the columns {', '.join(CSV_COLUMNS)}; missing: {missing}.")
    count = 0
    for line, row in enumerate(reader, start=2):
        if count >= MAX_CSV_ROWS:
            raise InvalidInput("file", f"At most {MAX_CSV_ROWS} rates per file.")
        where = f"line {line}: "
        try:
            rate = Decimal((row["rate"] or "").strip())
        except InvalidOperation:
            raise InvalidInput(f"{where}rate", "A rate must be a number greater than 0.") from None
        try:
            valid_from = date.fromisoformat((row["valid_from"] or "").strip())
        except ValueError:
            raise InvalidInput(f"{where}valid_from", "A date is YYYY-MM-DD.") from None
        currency = _checked(currency=row["currency"] or "", rate=rate, field=where)
        ExchangeRate.objects.update_or_create(
            currency=currency, valid_from=valid_from, defaults={"rate": rate}
        )
        count += 1
    publish_on_commit("exchange_rate.imported", record_id=0, count=count)
    return count
