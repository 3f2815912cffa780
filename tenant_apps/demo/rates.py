"""Demo exchange rates: every currency the demo's records use, into the organization's base currency, from
before the first seeded record and again every month or so (the rates drift a little), so that reports
convert every amount at the rate of its own day."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from tenant_apps.currency import services as currency_services
from tenant_apps.demo.leads import HISTORY_DAYS, OTHER_CURRENCIES

# US dollars per unit, roughly; each later date moves them by DRIFT.
USD_PER_UNIT = {"USD": Decimal("1"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27"), "CAD": Decimal("0.73")}
DRIFT = (
    Decimal("1"),
    Decimal("1.012"),
    Decimal("0.994"),
    Decimal("1.021"),
    Decimal("1.007"),
    Decimal("0.989"),
)
EVERY_DAYS = 30


def seed_rates(*, base: str, today: date) -> int:
    """Rates of the demo currencies into `base` on several dates over the history (none when the base is
    not one the demo knows: its records are then shown as unconverted). Returns how many were set."""
    base = base.upper()
    if base not in USD_PER_UNIT:
        return 0
    first = today - timedelta(days=HISTORY_DAYS + 1)
    count = 0
    for code in sorted({*OTHER_CURRENCIES, "USD"} - {base}):
        for step, drift in enumerate(DRIFT):
            rate = (USD_PER_UNIT[code] * drift / USD_PER_UNIT[base]).quantize(Decimal("0.000001"))
            currency_services.exchange_rate_set(
                currency=code, rate=rate, valid_from=first + timedelta(days=step * EVERY_DAYS)
            )
            count += 1
    return count
