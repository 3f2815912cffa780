"""The filter language's periods and windows start at midnight in the zone in force (the member's, else the
organization's)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tenant_apps.filtering.language import SEGMENTS, condition_holds

# 12:00 UTC on March 31st: April 1st (01:00) in Auckland, March 31st (05:00) in Los Angeles
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


class Lead:
    def __init__(self, created_at):
        self.created_at = created_at


def holds(zone, condition, created_at):
    with timezone.override(ZoneInfo(zone)):
        return condition_holds(condition, Lead(created_at), dialect=SEGMENTS, record_type="lead", now=NOW)


@pytest.mark.parametrize(
    ("zone", "this_quarter_holds"),
    [("Pacific/Auckland", False), ("America/Los_Angeles", True), ("UTC", True)],
)
def test_this_quarter_turns_at_the_zones_midnight(zone, this_quarter_holds):
    created = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)  # 23:00 on March 31st in Auckland: its last quarter
    condition = {"field": "created_at", "op": "in_period", "value": "this_quarter"}
    assert holds(zone, condition, created) is this_quarter_holds
    last = {"field": "created_at", "op": "in_period", "value": "last_quarter"}
    assert holds(zone, last, created) is not this_quarter_holds


def test_today_differs_from_utcs_today():
    created = datetime(2026, 3, 31, 9, 0, tzinfo=UTC)  # 22:00 on March 31st in Auckland: yesterday there
    today = {"field": "created_at", "op": "in_period", "value": "today"}
    assert holds("UTC", today, created)
    assert not holds("Pacific/Auckland", today, created)
    assert holds("Pacific/Auckland", {**today, "value": "yesterday"}, created)
