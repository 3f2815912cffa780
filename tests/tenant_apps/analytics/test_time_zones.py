"""Analytics count the organization's days: its snapshot of "today", its daily buckets and its forecast's
"overdue" follow Organization.time_zone, not UTC."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from tenant_apps.accounts.models import Account
from tenant_apps.analytics import selectors, services
from tenant_apps.analytics.models import PipelineTotal
from tenant_apps.leads import services as lead_services
from tenant_apps.opportunities.models import Opportunity

# 12:00 UTC on March 31st: 01:00 on April 1st in Auckland (NZDT, +13), 05:00 on March 31st in Los Angeles
INSTANT = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


@pytest.fixture
def zoned(org, monkeypatch):
    """zoned(name): acme in that zone, the clock stopped at INSTANT, the test body in acme's schema."""
    monkeypatch.setattr(timezone, "now", lambda: INSTANT)

    def enter(name):
        Organization.objects.filter(pk=org.pk).update(time_zone=name)
        return schema_context(org.schema_name)

    return enter


@pytest.mark.parametrize(
    ("zone", "day"), [("Pacific/Auckland", date(2026, 4, 1)), ("America/Los_Angeles", date(2026, 3, 31))]
)
def test_todays_snapshot_is_the_organizations_local_day(zoned, zone, day):
    with zoned(zone):
        lead_services.lead_create(actor=None, name="Jane", value=Decimal(100), allow_duplicate=True)
        services.snapshot_take()
        assert set(PipelineTotal.objects.values_list("date", flat=True)) == {day}
        assert selectors.organization_today() == day


def contacted_on(day):
    report = selectors.conversion_report(date_from=day, date_to=day)
    steps = {(step["from_stage"], step["to_stage"]): step["advanced"] for step in report["overall"]["steps"]}
    return steps[("NEW", "CONTACTED")]


def test_stage_changes_are_bucketed_into_the_organizations_days(zoned):
    with zoned("Pacific/Auckland"):
        lead = lead_services.lead_create(actor=None, name="Jane", allow_duplicate=True)
        lead_services.lead_transition(lead_id=lead.pk, to_stage="CONTACTED", actor=None)
        services.transitions_ingest()
        assert contacted_on(date(2026, 4, 1)) == 1  # Auckland's April 1st, though UTC's March 31st
        assert contacted_on(date(2026, 3, 31)) == 0


@pytest.mark.parametrize(("zone", "overdue"), [("Pacific/Auckland", 1), ("America/Los_Angeles", 0)])
def test_a_deal_expected_on_the_last_day_of_the_quarter_is_overdue_once_that_day_ends_locally(
    zoned, zone, overdue
):
    with zoned(zone):
        Opportunity.objects.create(
            account=Account.objects.create(name="Initech"),
            name="Q1 deal",
            amount=Decimal(1000),
            currency="USD",
            probability=50,
            expected_close_date=date(2026, 3, 31),
        )
        report = selectors.forecast_report(date_from=date(2026, 4, 1), date_to=date(2026, 6, 30))
        assert report["overdue"]["count"] == overdue
