"""Past snapshots keep the base-currency figures they were computed with: a rate set later (a new rate from
a later day, or any change that re-takes today's snapshot) rewrites no past day, and back-filling a day again
converts each lead at the rate that was in force on its own day, which no rate starting after that day can
change."""

from datetime import timedelta
from decimal import Decimal

from tenant_apps.analytics import services
from tenant_apps.analytics.models import PipelineSnapshot, PipelineTotal
from tenant_apps.currency import services as currency_services
from tests.tenant_apps.analytics.conftest import TODAY, build_lead, day


def figures(on_date):
    return {
        "rows": sorted(
            PipelineSnapshot.objects.filter(date=on_date).values_list(
                "stage", "owner_id", "count", "total_value", "weighted_value", "computed_at"
            )
        ),
        "totals": sorted(
            PipelineTotal.objects.filter(date=on_date).values_list("stage", "total_value", "computed_at")
        ),
    }


def new_total(on_date):
    return PipelineTotal.objects.get(date=on_date, stage="NEW").total_value


def test_a_later_rate_does_not_change_past_snapshots(pipeline, clock, django_capture_on_commit_callbacks):
    clock.now = day(8)
    currency_services.exchange_rate_set(currency="EUR", rate=Decimal("1.10"), valid_from=day(8).date())
    build_lead(clock, created=9, steps=[], name="Berlin", value="1000", currency="EUR")
    clock.now = day(30)
    services.snapshot_backfill(date_from=day(9).date(), date_to=day(12).date())
    past = [day(n).date() for n in (9, 10, 11, 12)]
    before = {on_date: figures(on_date) for on_date in past}
    # the conftest pipeline's NEW leads on day 10: L4 (300); plus Berlin, 1000 EUR at 1.10
    assert new_total(day(10).date()) == Decimal("1400.00")

    # a new rate from day 11, and one from today: past days keep their figures, today's snapshot converts
    # at the rate of each lead's own day (Berlin's: 1.10)
    with django_capture_on_commit_callbacks(execute=True):
        currency_services.exchange_rate_set(currency="EUR", rate=Decimal("1.50"), valid_from=day(11).date())
        currency_services.exchange_rate_set(currency="EUR", rate=Decimal("2.00"), valid_from=TODAY)
    services.analytics_refresh()  # what the rate events queue: today's snapshot only
    assert {on_date: figures(on_date) for on_date in past} == before
    assert new_total(TODAY) == Decimal("1400.00")

    # even back-filled again, every day converts Berlin at the rate of its creation day (day 9: 1.10)
    clock.now = day(30) + timedelta(minutes=5)
    services.snapshot_backfill(date_from=day(9).date(), date_to=day(12).date())
    for on_date in past:
        assert figures(on_date)["totals"] != []
        assert [row[:2] for row in figures(on_date)["totals"]] == [
            row[:2] for row in before[on_date]["totals"]
        ]
