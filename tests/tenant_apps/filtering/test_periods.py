"""Calendar periods relative to a day (tenant_apps/filtering/periods): half-open ranges of days, weeks
from Monday, calendar months, quarters and years, across year ends."""

from datetime import date

import pytest

from tenant_apps.filtering.periods import PERIODS, period_bounds


@pytest.mark.parametrize(
    ("name", "today", "first", "after"),
    [
        ("today", "2026-12-31", "2026-12-31", "2027-01-01"),
        ("yesterday", "2026-01-01", "2025-12-31", "2026-01-01"),
        ("tomorrow", "2026-12-31", "2027-01-01", "2027-01-02"),
        ("this_week", "2026-05-17", "2026-05-11", "2026-05-18"),  # a Sunday: the week began on Monday
        ("this_week", "2026-05-11", "2026-05-11", "2026-05-18"),
        ("last_week", "2026-01-01", "2025-12-22", "2025-12-29"),
        ("next_week", "2026-12-30", "2027-01-04", "2027-01-11"),
        ("this_month", "2026-02-28", "2026-02-01", "2026-03-01"),
        ("last_month", "2026-01-31", "2025-12-01", "2026-01-01"),
        ("next_month", "2026-12-01", "2027-01-01", "2027-02-01"),
        ("this_quarter", "2026-03-31", "2026-01-01", "2026-04-01"),
        ("this_quarter", "2026-10-01", "2026-10-01", "2027-01-01"),
        ("last_quarter", "2026-01-15", "2025-10-01", "2026-01-01"),
        ("last_quarter", "2026-05-15", "2026-01-01", "2026-04-01"),
        ("next_quarter", "2026-11-30", "2027-01-01", "2027-04-01"),
        ("this_year", "2026-07-04", "2026-01-01", "2027-01-01"),
        ("last_year", "2026-01-01", "2025-01-01", "2026-01-01"),
        ("next_year", "2026-12-31", "2027-01-01", "2028-01-01"),
    ],
)
def test_period_bounds(name, today, first, after):
    assert period_bounds(name, date.fromisoformat(today)) == (
        date.fromisoformat(first),
        date.fromisoformat(after),
    )


def test_every_period_is_a_day_week_month_quarter_or_year_around_today():
    assert set(PERIODS) == {
        "yesterday",
        "today",
        "tomorrow",
        *(f"{word}_{unit}" for word in ("last", "this", "next") for unit in ("week", "month", "quarter")),
        *("last_year", "this_year", "next_year"),
    }
    today = date(2026, 5, 15)
    for name in PERIODS:
        first, after = period_bounds(name, today)
        assert first < after, name
