"""Calendar periods relative to a day ("this_quarter", "last_month", "today", ...): what the `in_period`
operator of the filter language and the segment presets both resolve against the current day.

Days are calendar days of the current time zone, which is UTC for now (settings.TIME_ZONE; no
organization time zone is activated yet), so months and quarters start at midnight UTC.
"""

from __future__ import annotations

from datetime import date, timedelta

MONTHS = {"month": 1, "quarter": 3, "year": 12}
# name -> (unit, how many units from the current one)
PERIODS: dict[str, tuple[str, int]] = {
    "yesterday": ("day", -1),
    "today": ("day", 0),
    "tomorrow": ("day", 1),
    **{
        f"{word}_{unit}": (unit, offset)
        for unit in ("week", *MONTHS)
        for word, offset in (("last", -1), ("this", 0), ("next", 1))
    },
}


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_bounds(name: str, today: date) -> tuple[date, date]:
    """The first day of the period and the first day after it (a half-open range). Weeks start on
    Monday (ISO); quarters are calendar quarters."""
    unit, offset = PERIODS[name]
    if unit == "day":
        first = today + timedelta(days=offset)
        return first, first + timedelta(days=1)
    if unit == "week":
        first = today - timedelta(days=today.weekday()) + timedelta(weeks=offset)
        return first, first + timedelta(weeks=1)
    months = MONTHS[unit]
    current = date(today.year, months * ((today.month - 1) // months) + 1, 1)
    first = _add_months(current, offset * months)
    return first, _add_months(first, months)


def quarter_of(day: date) -> tuple[date, date]:
    """First and last day of the calendar quarter holding `day`."""
    first, after = period_bounds("this_quarter", day)
    return first, after - timedelta(days=1)
