"""Calendar periods relative to a day ("this_quarter", "last_month", "today", ...): what the `in_period`
operator of the filter language and the segment presets both resolve against the current day.

The arithmetic is the kernel's (shared_apps/core/localtime.py), so every report, preset and rule counts days
the same way; days are those of the zone in force (the member's, else the organization's: see
shared_apps.organizations.context.zone_for), so "this month" starts at the member's local midnight.
"""

from __future__ import annotations

from datetime import date

from shared_apps.core.localtime import MONTHS, PERIODS, period_days, quarter_days

__all__ = ["MONTHS", "PERIODS", "period_bounds", "quarter_of"]


def period_bounds(name: str, today: date) -> tuple[date, date]:
    """The first day of the period and the first day after it (a half-open range). Weeks start on
    Monday (ISO); quarters are calendar quarters."""
    return period_days(name, today)


def quarter_of(day: date) -> tuple[date, date]:
    """First and last day of the calendar quarter holding `day`."""
    return quarter_days(day)
