from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.currency.models import ExchangeRate
from tenant_apps.filtering.language import SEGMENTS, clean_definition
from tenant_apps.filtering.periods import quarter_of
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.segments.selectors import HIGH_VALUE_THIS_QUARTER, NOT_CONTACTED_30_DAYS
from tests.conftest import client_for


def rows(response):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["results"])
    return [row["name"] for row in body["results"]]


def test_presets_are_listed(api):
    response = api(Role.VIEWER).get("/api/segments/presets/")
    assert response.status_code == 200
    assert [(p["key"], p["record_type"]) for p in response.json()] == [
        ("my_open_leads", "lead"),
        ("no_activity_30_days", "lead"),
        ("high_value_closing_this_quarter", "opportunity"),
    ]


def test_my_open_leads(make_lead, member, org):
    rep, other = member(role=Role.REP), member(role=Role.REP)
    for stage in Stage.values:
        make_lead(name=f"mine {stage}", stage=stage, owner_id=rep.pk)
    make_lead(name="someone else's", owner_id=other.pk)
    make_lead(name="nobody's")
    gone = make_lead(name="mine deleted", owner_id=rep.pk)
    with schema_context(org.schema_name):
        Lead.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    response = client_for(org, rep).get("/api/segments/presets/my_open_leads/results/?ordering=name")
    assert rows(response) == [
        f"mine {stage}" for stage in sorted(Stage.values) if stage not in ("WON", "LOST")
    ]
    assert rows(client_for(org, other).get("/api/segments/presets/my_open_leads/results/")) == [
        "someone else's"
    ]


def test_no_activity_30_days(make_lead, api, org):
    now = timezone.now()
    contacted = {
        "never": None,
        "40 days ago": now - timedelta(days=40),
        "just over 30 days ago": now - timedelta(days=30, minutes=5),
        "29 days ago": now - timedelta(days=29),
        "yesterday": now - timedelta(days=1),
    }
    for name, at in contacted.items():
        make_lead(name=name, stage=Stage.CONTACTED if at else Stage.NEW)
        with schema_context(org.schema_name):
            Lead.objects.filter(name=name).update(last_contacted_at=at)
    make_lead(name="never but won", stage=Stage.WON)
    make_lead(name="never but lost", stage=Stage.LOST)
    gone = make_lead(name="never but deleted")
    with schema_context(org.schema_name):
        Lead.objects.filter(pk=gone.pk).update(deleted_at=now)
    response = api(Role.REP).get("/api/segments/presets/no_activity_30_days/results/?ordering=name")
    assert rows(response) == ["40 days ago", "just over 30 days ago", "never"]


def test_high_value_closing_this_quarter_largest_first(make_record, api, org):
    first, last = quarter_of(timezone.localdate())
    account = make_record("account")
    deals = [
        ("first day", first, "10000.00", "PROPOSAL"),
        ("last day, biggest", last, "250000.00", "NEGOTIATION"),
        ("mid quarter", first + timedelta(days=40), "50000.00", "QUALIFICATION"),
        ("just under", first, "9999.99", "PROPOSAL"),
        ("day before the quarter", first - timedelta(days=1), "90000.00", "PROPOSAL"),
        ("day after the quarter", last + timedelta(days=1), "90000.00", "PROPOSAL"),
        ("no date", None, "90000.00", "PROPOSAL"),
        ("won already", first, "90000.00", "CLOSED_WON"),
        ("lost", last, "90000.00", "CLOSED_LOST"),
        ("deleted", first, "90000.00", "PROPOSAL"),
    ]
    with schema_context(org.schema_name):
        for name, close, amount, stage in deals:
            Opportunity.objects.create(
                name=name,
                account=account,
                expected_close_date=close,
                amount=Decimal(amount),
                stage=stage,
                closed_at=timezone.now() if stage.startswith("CLOSED") else None,
            )
        Opportunity.objects.filter(name="deleted").update(deleted_at=timezone.now())
    client = api(Role.REP)
    url = "/api/segments/presets/high_value_closing_this_quarter/results/"
    assert rows(client.get(url)) == ["last day, biggest", "mid quarter", "first day"]
    first_page = client.get(f"{url}?page_size=2").json()
    assert (first_page["count"], [row["name"] for row in first_page["results"]]) == (
        3,
        ["last day, biggest", "mid quarter"],
    )
    assert [row["name"] for row in client.get(first_page["next"]).json()["results"]] == ["first day"]
    assert first_page["results"][0]["amount"] == "250000.00"


def test_high_value_is_measured_in_the_base_currency(make_record, api, org):
    """10,000 in USD (acme's base currency) at the rate in force on the close date, not the face value."""
    first, _ = quarter_of(timezone.localdate())
    account = make_record("account")
    with schema_context(org.schema_name):
        ExchangeRate.objects.create(
            currency="EUR", rate=Decimal("1.2"), valid_from=first - timedelta(days=400)
        )
        ExchangeRate.objects.create(
            currency="JPY", rate=Decimal("0.0067"), valid_from=first - timedelta(days=400)
        )
        for name, amount, currency in [
            ("EUR 9,000 = USD 10,800", "9000", "EUR"),
            ("JPY 1,000,000 = USD 6,700", "1000000", "JPY"),
            ("GBP 20,000, no rate", "20000", "GBP"),
            ("USD 10,000", "10000", "USD"),
        ]:
            Opportunity.objects.create(
                name=name,
                account=account,
                expected_close_date=first,
                amount=Decimal(amount),
                currency=currency,
            )
    url = "/api/segments/presets/high_value_closing_this_quarter/results/"
    assert sorted(rows(api(Role.REP).get(url))) == ["EUR 9,000 = USD 10,800", "USD 10,000"]


@pytest.mark.parametrize(
    ("day", "first", "last"),
    [
        ("2026-01-01", "2026-01-01", "2026-03-31"),
        ("2026-03-31", "2026-01-01", "2026-03-31"),
        ("2026-05-15", "2026-04-01", "2026-06-30"),
        ("2026-09-30", "2026-07-01", "2026-09-30"),
        ("2026-10-01", "2026-10-01", "2026-12-31"),
        ("2026-12-31", "2026-10-01", "2026-12-31"),
    ],
)
def test_quarters(day, first, last):
    from datetime import date

    assert quarter_of(date.fromisoformat(day)) == (date.fromisoformat(first), date.fromisoformat(last))


def test_unknown_preset_is_404(api):
    response = api(Role.REP).get("/api/segments/presets/everything/results/")
    assert (response.status_code, response.json()["code"]) == (404, "preset_not_found")


def test_presets_state_their_dates_in_the_filter_language():
    """The presets' date conditions are definitions a custom segment could save (one implementation)."""

    for definition in (HIGH_VALUE_THIS_QUARTER, NOT_CONTACTED_30_DAYS):
        conditions = {"match": definition["match"], "conditions": definition["conditions"]}
        record_type = definition["record_type"]
        assert clean_definition(conditions, dialect=SEGMENTS, record_type=record_type) == conditions
