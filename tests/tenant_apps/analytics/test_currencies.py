"""Reports in the base currency (acme's default_currency, USD): converted at the rate in force on the
record's date, per-currency breakdowns, and records without a rate listed apart, never summed."""

from datetime import date
from decimal import Decimal

from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.analytics import services
from tenant_apps.currency import services as currency_services
from tenant_apps.leads import conversion
from tenant_apps.opportunities.models import Opportunity
from tests.tenant_apps.analytics.conftest import build_lead, day
from tests.tenant_apps.analytics.test_reports import get


def test_a_jpy_lead_does_not_add_its_face_value_to_a_usd_pipeline(pipeline, api, clock):
    jpy = build_lead(clock, created=30, steps=[], name="Tokyo", value="5000000", currency="JPY")
    services.analytics_refresh()
    body = get(api(Role.VIEWER), "pipeline")
    # the conftest pipeline's open leads: NEW 300, CONTACTED 800, QUALIFIED 500; the JPY lead is NEW
    assert body["base_currency"] == "USD"
    assert body["open"]["total_value"] == "1600.00"
    assert body["stages"][0] == {
        "stage": "NEW",
        "count": 2,
        "total_value": "300.00",
        "weighted_value": "15.00",
    }
    assert body["unconverted"] == [{"currency": "JPY", "count": 1, "amount": "5000000.00"}]
    assert {row["currency"]: row for row in body["by_currency"]}["JPY"]["base_amount"] == "0.00"

    # a rate from after the lead's day does not apply to it; one in force on its day does
    currency_services.exchange_rate_set(currency="JPY", rate=Decimal("0.01"), valid_from=day(31).date())
    services.analytics_refresh()
    assert get(api(Role.VIEWER), "pipeline")["unconverted"] == [
        {"currency": "JPY", "count": 1, "amount": "5000000.00"}
    ]
    currency_services.exchange_rate_set(
        currency="JPY", rate=Decimal("0.0067"), valid_from=jpy.created_at.date()
    )
    services.analytics_refresh()
    body = get(api(Role.VIEWER), "pipeline")
    assert body["unconverted"] == []
    assert body["open"]["total_value"] == "35100.00"  # 1600 + 5,000,000 x 0.0067
    by_currency = {row["currency"]: row for row in body["by_currency"]}
    assert by_currency["JPY"] == {
        "currency": "JPY",
        "count": 1,
        "amount": "5000000.00",
        "base_amount": "33500.00",
    }
    assert by_currency["USD"]["base_amount"] == "1600.00"


def test_the_forecast_converts_deals_and_lists_those_without_a_rate(pipeline, api, clock):
    account = Account.objects.create(name="Initech")

    def deal(amount, currency, expected):
        Opportunity.objects.create(
            account=account,
            name=f"deal {amount} {currency}",
            amount=Decimal(amount),
            currency=currency,
            probability=50,
            expected_close_date=expected,
        )

    deal("1000", "USD", date(2026, 2, 20))
    deal("5000000", "JPY", date(2026, 2, 21))
    deal("100", "EUR", date(2026, 3, 10))
    currency_services.exchange_rate_set(currency="EUR", rate=Decimal("1.1"), valid_from=date(2026, 3, 1))
    currency_services.exchange_rate_set(currency="EUR", rate=Decimal("1.2"), valid_from=date(2026, 3, 11))

    body = get(api(Role.VIEWER), "forecast")
    months = {row["month"]: (row["count"], row["amount"], row["weighted_amount"]) for row in body["months"]}
    assert months["2026-02"] == (1, "1000.00", "500.00")  # the JPY deal has no rate: not summed
    assert months["2026-03"] == (1, "110.00", "55.00")  # the rate in force on its expected close date
    assert body["total"] == {"count": 2, "amount": "1110.00", "weighted_amount": "555.00"}
    assert body["unconverted"] == [{"currency": "JPY", "count": 1, "amount": "5000000.00"}]
    assert body["by_currency"] == [
        {"currency": "EUR", "count": 1, "amount": "100.00", "base_amount": "110.00"},
        {"currency": "JPY", "count": 1, "amount": "5000000.00", "base_amount": "0.00"},
        {"currency": "USD", "count": 1, "amount": "1000.00", "base_amount": "1000.00"},
    ]


def test_a_converted_lead_leaves_the_pipeline_and_its_deal_is_counted_once(pipeline, api, clock):
    """L3 (QUALIFIED, 500, owner A) converted on day 10 with a deal: from then on its money is the deal's
    (in the forecast), not the lead pipeline's, today and in back-filled history."""
    clock.now = day(10)
    conversion.lead_convert(
        lead_id=pipeline.leads["L3"].pk,
        actor=None,
        account_name="Initech",
        create_opportunity=True,
        expected_close_date="2026-02-20",
    )
    clock.now = day(30)
    services.analytics_refresh()
    services.snapshot_backfill(date_from=day(8).date(), date_to=day(12).date())
    client = api(Role.VIEWER)
    body = get(client, "pipeline", date_from=day(8).date().isoformat(), date_to=day(12).date().isoformat())
    assert body["open"] == {"count": 2, "total_value": "1100.00", "weighted_value": "95.00"}
    assert {row["stage"]: row["count"] for row in body["stages"]}["QUALIFIED"] == 0
    assert {row["currency"]: row["count"] for row in body["by_currency"]} == {"USD": 2}
    history = {row["date"]: row["open"]["total_value"] for row in body["history"]}
    assert history["2026-01-14"] == "2600.00"  # day 9, L1 still open (1000): L3 not converted yet
    assert history["2026-01-15"] == "2100.00"  # day 10: L3 converted during the day
    forecast = get(client, "forecast")
    assert forecast["total"]["amount"] == "500.00"  # the deal, once
