"""Local calendar time: days, weeks, months, quarters and years of a time zone, as aware datetimes.

Every "today", "this quarter", "last 7 days", "overdue" and 06:00 in LeadPulse is reckoned in a time zone: the
member's (`User.time_zone`), else their organization's (`Organization.time_zone`, default UTC). Which one is
in force is decided by `shared_apps.organizations.context` (`zone_for(member)`, `organization_zone()`); this
module only does the calendar arithmetic, so the kernel stays free of the apps above it. Functions take the
zone and `now` explicitly (tests pass fixed instants) and default to Django's active zone and the clock.

Boundaries are half-open `[start, end)` and both are midnights of the zone: a day across a daylight-saving
change is 23 or 25 hours long, never a fixed 24.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.utils import timezone

from shared_apps.core.errors import InvalidInput

DEFAULT_ZONE = "UTC"
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


def is_zone_name(name: str) -> bool:
    """An IANA zone name zoneinfo knows ("Europe/Paris", "UTC"); not a file path, not an abbreviation."""
    if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def validate_zone_name(value: object, *, field: str = "time_zone", blank: bool = False) -> str:
    """An IANA zone name zoneinfo knows, else a 400 naming `field`; "" too when `blank` (a member's: their
    organization's zone)."""
    if blank and value == "":
        return ""
    if not isinstance(value, str) or len(value) > 64 or not is_zone_name(value):
        raise InvalidInput(
            field, "Unknown time zone; use an IANA name such as 'Europe/Paris' or 'UTC'.", code="invalid_zone"
        )
    return value


def zone_names() -> list[str]:
    """Every IANA zone name, sorted (for pickers)."""
    return sorted(available_timezones())


def zone(name: str | None) -> ZoneInfo:
    """The zone called `name`; UTC for a blank or unknown name (stored names are validated when set)."""
    if name and is_zone_name(name):
        return ZoneInfo(name)
    return ZoneInfo(DEFAULT_ZONE)


def _zone(tz: tzinfo | None) -> tzinfo:
    return tz if tz is not None else timezone.get_current_timezone()


def local_now(tz: tzinfo | None = None, now: datetime | None = None) -> datetime:
    return (now or timezone.now()).astimezone(_zone(tz))


def today(tz: tzinfo | None = None, now: datetime | None = None) -> date:
    """The calendar day it is in `tz` at `now`."""
    return local_now(tz, now).date()


def start_of_day(day: date, tz: tzinfo | None = None) -> datetime:
    """Midnight starting `day` in `tz`, aware (where midnight does not exist, the first instant after)."""
    zone_ = _zone(tz)
    start = datetime.combine(day, time.min).replace(tzinfo=zone_)
    # a skipped midnight (a DST jump at 00:00) normalizes forward through UTC
    return start.astimezone(UTC).astimezone(zone_)


def day_range(day: date, tz: tzinfo | None = None) -> tuple[datetime, datetime]:
    return start_of_day(day, tz), start_of_day(day + timedelta(days=1), tz)


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_days(name: str, day: date) -> tuple[date, date]:
    """The first day of the period around `day` and the first day after it (a half-open range of calendar
    days). Weeks start on Monday (ISO); quarters are calendar quarters."""
    unit, offset = PERIODS[name]
    if unit == "day":
        first = day + timedelta(days=offset)
        return first, first + timedelta(days=1)
    if unit == "week":
        first = day - timedelta(days=day.weekday()) + timedelta(weeks=offset)
        return first, first + timedelta(weeks=1)
    months = MONTHS[unit]
    current = date(day.year, months * ((day.month - 1) // months) + 1, 1)
    first = _add_months(current, offset * months)
    return first, _add_months(first, months)


def period_range(
    name: str, tz: tzinfo | None = None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The period `name` ("this_quarter", "last_week", "today", ...) around now in `tz`: aware midnights."""
    first, after = period_days(name, today(tz, now))
    return start_of_day(first, tz), start_of_day(after, tz)


def last_days_range(
    days: int, tz: tzinfo | None = None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """From midnight `days` days ago to now: "in the last 7 days" counts today and the 7 days before it."""
    now = now or timezone.now()
    return start_of_day(today(tz, now) - timedelta(days=days), tz), now


def next_days_range(
    days: int, tz: tzinfo | None = None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """From now to the end of the day `days` days ahead."""
    now = now or timezone.now()
    return now, start_of_day(today(tz, now) + timedelta(days=days + 1), tz)


def quarter_days(day: date) -> tuple[date, date]:
    """First and last day of the calendar quarter holding `day`."""
    first, after = period_days("this_quarter", day)
    return first, after - timedelta(days=1)
