"""Calendar arithmetic in a time zone: days, periods and windows as aware midnights of that zone."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared_apps.core import localtime

AUCKLAND = ZoneInfo("Pacific/Auckland")  # UTC+13 in (southern) summer
LOS_ANGELES = ZoneInfo("America/Los_Angeles")  # UTC-8 in winter
# 2026-03-31 12:00 UTC: already April 1st (01:00) in Auckland, still March 31st (05:00) in Los Angeles
INSTANT = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def test_today_is_the_calendar_day_of_the_zone():
    assert localtime.today(UTC, INSTANT) == date(2026, 3, 31)
    assert localtime.today(AUCKLAND, INSTANT) == date(2026, 4, 1)
    assert localtime.today(LOS_ANGELES, INSTANT) == date(2026, 3, 31)


def test_the_quarter_turns_at_the_zones_midnight():
    assert localtime.period_range("this_quarter", UTC, INSTANT) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )
    start, end = localtime.period_range("this_quarter", AUCKLAND, INSTANT)
    assert (start, end) == (datetime(2026, 4, 1, tzinfo=AUCKLAND), datetime(2026, 7, 1, tzinfo=AUCKLAND))
    # Auckland's second quarter began at 11:00 UTC on March 31st (NZDT, +13)
    assert start.astimezone(UTC) == datetime(2026, 3, 31, 11, 0, tzinfo=UTC)
    start, _ = localtime.period_range("last_quarter", AUCKLAND, INSTANT)
    assert start == datetime(2026, 1, 1, tzinfo=AUCKLAND)


def test_today_and_weeks_are_local_midnights():
    start, end = localtime.period_range("today", LOS_ANGELES, INSTANT)
    assert start.astimezone(UTC) == datetime(2026, 3, 31, 7, 0, tzinfo=UTC)  # PDT, -7
    assert end - start == timedelta(days=1)
    week_start, week_end = localtime.period_range("this_week", AUCKLAND, INSTANT)
    assert week_start.date() == date(2026, 3, 30) and week_start.weekday() == 0  # Monday
    assert week_end.date() == date(2026, 4, 6)


def test_a_day_across_a_daylight_saving_change_keeps_its_midnights():
    # Los Angeles springs forward on 2026-03-08: that day has 23 hours
    start, end = localtime.day_range(date(2026, 3, 8), LOS_ANGELES)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    assert (start.hour, end.hour) == (0, 0)


def test_last_and_next_days_windows():
    start, end = localtime.last_days_range(7, AUCKLAND, INSTANT)
    assert (start, end) == (datetime(2026, 3, 25, tzinfo=AUCKLAND), INSTANT)
    start, end = localtime.next_days_range(1, LOS_ANGELES, INSTANT)
    assert (start, end) == (INSTANT, datetime(2026, 4, 2, tzinfo=LOS_ANGELES))


@pytest.mark.parametrize("name", ["Pacific/Auckland", "America/Los_Angeles", "UTC", "Asia/Kolkata"])
def test_iana_names_are_zones(name):
    assert localtime.is_zone_name(name)
    assert localtime.zone(name) == ZoneInfo(name)


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus", "PST8PDT/x", "../etc/passwd", "/usr/share/zoneinfo/UTC", " UTC"]
)
def test_other_names_are_not_zones_and_read_as_utc(name):
    assert not localtime.is_zone_name(name)
    assert localtime.zone(name) == ZoneInfo("UTC")
