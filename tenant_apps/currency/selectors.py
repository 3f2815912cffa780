# ruff: noqa: S608  (SQL from a table name and the caller's column expressions; every value is a parameter)
"""Reads of exchange rates, and converting amounts into the organization's base currency (its
default_currency): in Python for one amount, in SQL (`rate_on`) for reports over many records."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Case, DecimalField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Upper

from shared_apps.organizations.context import current_organization
from tenant_apps.currency.models import ExchangeRate

RATE_FIELD = DecimalField(max_digits=24, decimal_places=10)


def base_currency() -> str:
    return current_organization().default_currency.upper()


def exchange_rate_list(*, currency: str | None = None) -> QuerySet[ExchangeRate]:
    rates = ExchangeRate.objects.all()
    return rates.filter(currency=currency.upper()) if currency else rates


def exchange_rate_get(*, currency: str, on_date: date) -> Decimal | None:
    """Base units per unit of `currency` on `on_date`: 1 for the base currency, the latest rate valid on
    that day otherwise, None when the currency has no rate yet on that day."""
    if currency.upper() == base_currency():
        return Decimal(1)
    return (
        ExchangeRate.objects.filter(currency=currency.upper(), valid_from__lte=on_date)
        .order_by("-valid_from")
        .values_list("rate", flat=True)
        .first()
    )


def convert(*, currency: str, amount: Decimal, on_date: date) -> Decimal | None:
    """`amount` of `currency` in the base currency at the rate in force on `on_date`; None without a rate
    (never the face value: a caller reports such an amount apart)."""
    rate = exchange_rate_get(currency=currency, on_date=on_date)
    return None if rate is None else amount * rate


def rate_on(*, currency_field: str, on_date: str | date) -> Case:
    """SQL for the rate of each row's `currency_field` on `on_date` (a field of the row, or one day for
    every row): 1 in the base currency, else the latest ExchangeRate with valid_from <= that day (a
    correlated subquery: one probe of the (currency, valid_from) key per row), NULL without a rate.
    Multiply an amount by it; NULL marks what cannot be converted and must be reported apart."""
    day = OuterRef(on_date) if isinstance(on_date, str) else Value(on_date)
    latest = (
        ExchangeRate.objects.filter(currency=Upper(OuterRef(currency_field)), valid_from__lte=day)
        .order_by("-valid_from")
        .values("rate")[:1]
    )
    return Case(
        When(**{f"{currency_field}__iexact": base_currency()}, then=Value(Decimal(1))),
        default=Subquery(latest, output_field=RATE_FIELD),
        output_field=RATE_FIELD,
    )


def rate_sql(*, currency: str, day: str) -> str:
    """`rate_on` as SQL text, for reports written in SQL: the rate of the `currency` column on `day` (SQL
    expressions), NULL without a rate. The query passes the base currency as %(base_currency)s."""
    return (
        f"(CASE WHEN upper({currency}) = %(base_currency)s THEN 1 ELSE"
        f" (SELECT r.rate FROM {ExchangeRate._meta.db_table} r"
        f" WHERE r.currency = upper({currency}) AND r.valid_from <= {day}"
        " ORDER BY r.valid_from DESC LIMIT 1) END)"
    )
