"""The dashboard: pipeline value by stage, conversion, the weekly trend and overdue tasks, as SVG charts."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.leads.models import Stage
from tenant_apps.tasks.services import task_create
from tenant_apps.web import selectors


def test_the_dashboard_draws_its_charts(web, make_lead, org):
    client = web(Role.MANAGER)
    make_lead(name="Open one", value="1000.00", stage=Stage.CONTACTED)
    make_lead(name="Won one", value="4000.00", stage=Stage.WON)
    make_lead(name="Lost one", value="10.00", stage=Stage.LOST)
    lead = make_lead(name="With a late task")
    with schema_context(org.schema_name):
        task_create(
            actor=client.user,
            title="Overdue call",
            due_at=timezone.now() - timedelta(hours=3),
            lead_id=lead.pk,
        )
    body = client.get("/").content.decode()
    assert body.count("<svg") == 3
    for chart in ("chart-pipeline", "chart-conversion", "chart-trend"):
        assert f'id="{chart}"' in body and f'aria-labelledby="{chart}-title"' in body
    assert "<title>Won: $4,000 · 1</title>" in body
    assert "Overdue call" in body
    assert re.search(r"Win rate.*?<strong>50%</strong>", body, re.S)
    assert "$1,000" in body  # open pipeline: NEW (0) + CONTACTED (1000)


def test_conversion_counts_each_step(in_org, make_lead, admin):
    make_lead(stage=Stage.QUALIFIED)
    make_lead(stage=Stage.CONTACTED)
    make_lead(stage=Stage.LOST)
    result = selectors.conversion(actor=admin)
    by_step = {(step.from_stage, step.to_stage): (step.advanced, step.exits) for step in result.steps}
    assert by_step[(Stage.NEW, Stage.CONTACTED)] == (2, 3)
    assert by_step[(Stage.CONTACTED, Stage.QUALIFIED)] == (1, 1)
    assert (result.won, result.lost, result.win_rate) == (0, 1, 0.0)


def test_the_trend_counts_created_and_won_per_week(in_org, make_lead, admin):
    make_lead(stage=Stage.WON)
    make_lead()
    weeks = selectors.weekly_trend(actor=admin)
    assert len(weeks) == selectors.TREND_WEEKS
    assert (weeks[-1].created, weeks[-1].won) == (2, 1)
    assert sum(week.created for week in weeks[:-1]) == 0


def test_money_never_adds_currencies():
    from decimal import Decimal

    assert selectors.money(Decimal("1234.50"), "USD") == "$1,234.50"
    assert selectors.money(Decimal("1000"), "CHF") == "1,000 CHF"
    assert selectors.totals_text({"EUR": Decimal(5), "USD": Decimal(7)}, "USD") == "$7 + €5"


def test_the_dashboard_shows_money_in_the_base_currency_with_a_breakdown(web, make_lead, org):
    """Each open lead converted at the rate in force on its creation day; a currency without one is shown as
    unconverted (count and amount in its currency), never added to the base figures."""
    from datetime import timedelta as days
    from decimal import Decimal

    from tenant_apps.currency import services as currency_services

    today = timezone.localdate()
    with schema_context(org.schema_name):
        currency_services.exchange_rate_set(currency="JPY", rate=Decimal("0.0067"), valid_from=today)
        currency_services.exchange_rate_set(currency="EUR", rate=Decimal("1.1"), valid_from=today - days(30))
        # CAD's first rate starts tomorrow: today's CAD lead has none for its day
        currency_services.exchange_rate_set(currency="CAD", rate=Decimal("0.7"), valid_from=today + days(1))
    make_lead(name="usd", value="1000.00", currency="USD", stage=Stage.CONTACTED)
    make_lead(name="jpy", value="5000000.00", currency="JPY")
    make_lead(name="eur", value="100.00", currency="EUR")
    make_lead(name="cad", value="163000.00", currency="CAD")
    make_lead(name="won eur", value="999.00", currency="EUR", stage=Stage.WON)
    body = web(Role.MANAGER).get("/").content.decode()
    # 1000 + 5,000,000 x 0.0067 + 100 x 1.1 = 34,610; CAD apart
    assert re.search(r"Open pipeline \(USD\)</span><strong>\$34,610</strong><small>4 leads · <a", body), body
    assert "1 unconverted</a>" in body
    assert "<title>New: $33,610 · 3 (1 unconverted)</title>" in body
    assert "<title>Won: $1,098.90 · 1</title>" in body
    rows = dict(re.findall(r'<tr id="money-(\w+)">(.*?)</tr>', body))
    assert list(rows) == ["USD", "CAD", "EUR", "JPY"]
    assert "<td>1</td><td>$1,000</td><td>$1,000</td><td>none</td>" in rows["USD"]
    assert "<td>1</td><td>¥5,000,000</td><td>$33,500</td><td>none</td>" in rows["JPY"]
    assert "<td>1</td><td>€100</td><td>$110</td>" in rows["EUR"]
    unconverted = "<td>1</td><td>163,000 CAD</td><td>$0</td><td>1 (163,000 CAD): no rate for their day</td>"
    assert unconverted in rows["CAD"]


def test_a_large_organizations_trend_caches_the_finished_weeks_and_counts_this_week_live(
    in_org, make_lead, admin, django_capture_on_commit_callbacks
):
    """Past LIVE_LIMIT the finished weeks' "created" counts (a scan of many leads) are kept for the day; this
    week's are cached only until the next lead change, so a lead created now shows at once."""
    from tenant_apps.leads.models import Lead
    from tenant_apps.web import dashboard_figures

    def backdate(lead, weeks):
        Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - timedelta(weeks=weeks))

    backdate(make_lead(name="Two weeks ago"), 2)
    weeks = dashboard_figures.weekly_trend(actor=admin)
    assert len(weeks) == selectors.TREND_WEEKS
    assert [week.created for week in weeks].count(1) == 1 and weeks[-1].created == 0
    backdate(make_lead(name="Also two weeks ago"), 2)
    with django_capture_on_commit_callbacks(execute=True):  # the lead event drops the cached reports
        make_lead(name="This week")
    again = dashboard_figures.weekly_trend(actor=admin)
    assert [week.created for week in again[:-1]] == [week.created for week in weeks[:-1]]  # cached
    assert again[-1].created == 1
    # the live figures are exact; so is the cached one the next day (another key)
    assert sum(week.created for week in selectors.weekly_trend(actor=admin)) == 3
