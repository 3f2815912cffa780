"""Each report's figures on the hand-built pipeline of conftest.py (worked out by hand below)."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.analytics import selectors, services
from tenant_apps.analytics.models import TransitionRollup, bucket_bounds, bucket_of
from tenant_apps.analytics.selectors import Period
from tenant_apps.opportunities.models import Opportunity
from tests.conftest import client_for
from tests.tenant_apps.analytics.conftest import JANUARY, build_lead, day


def get(client, path, **params):
    response = client.get(f"/api/analytics/{path}/", params)
    assert response.status_code == 200, response.content
    return response.json()


def figures(rows, key="stage"):
    return {row[key]: (row["count"], row["total_value"], row["weighted_value"]) for row in rows}


def test_pipeline_now_by_stage_and_owner(pipeline, api):
    services.analytics_refresh()
    body = get(api(Role.VIEWER), "pipeline")

    assert body["snapshot_date"] == "2026-02-04"
    # live leads: L1 WON 1000 (A), L2 LOST 2000 (B), L3 QUALIFIED 500 (A), L4 NEW 300 (-),
    # L5 CONTACTED 800 (B), L7 WON 4000 (B); L6 is deleted. Weights: NEW 5%, CONTACTED 10%, QUALIFIED 25%.
    assert figures(body["stages"]) == {
        "NEW": (1, "300.00", "15.00"),
        "CONTACTED": (1, "800.00", "80.00"),
        "QUALIFIED": (1, "500.00", "125.00"),
        "PROPOSAL": (0, "0.00", "0.00"),
        "NEGOTIATION": (0, "0.00", "0.00"),
        "WON": (2, "5000.00", "5000.00"),
        "LOST": (1, "2000.00", "0.00"),
    }
    assert body["open"] == {"count": 3, "total_value": "1600.00", "weighted_value": "220.00"}
    owners = {(row["owner"] or {}).get("id"): row for row in body["by_owner"]}
    a, b = pipeline.a.pk, pipeline.b.pk
    assert set(owners) == {a, b, None}
    assert owners[a]["owner"]["email"] == pipeline.a.email
    assert owners[a]["open"] == {"count": 1, "total_value": "500.00", "weighted_value": "125.00"}
    assert figures(owners[a]["stages"])["WON"] == (1, "1000.00", "1000.00")
    assert owners[b]["open"] == {"count": 1, "total_value": "800.00", "weighted_value": "80.00"}
    assert figures(owners[b]["stages"])["LOST"] == (1, "2000.00", "0.00")
    assert owners[None]["open"] == {"count": 1, "total_value": "300.00", "weighted_value": "15.00"}
    # ordered by open weighted value
    assert [(row["owner"] or {}).get("id") for row in body["by_owner"]] == [a, b, None]


def test_pipeline_history_from_back_filled_snapshots(pipeline, api):
    services.snapshot_backfill(date_from=date(2026, 1, 4), date_to=date(2026, 1, 7))
    services.snapshot_take()
    client = api(Role.MANAGER)  # a rep may not read another owner's pipeline (test_rep_visibility.py)
    body = get(client, "pipeline", date_from="2026-01-04", date_to="2026-02-04")

    history = {entry["date"]: figures(entry["stages"]) for entry in body["history"]}
    assert list(history) == ["2026-01-04", "2026-01-05", "2026-01-06", "2026-01-07", "2026-02-04"]
    assert {stage for stage, (count, _, _) in history["2026-01-04"].items() if count} == set()
    # end of Jan 7 (day 2): L1, L2, L3 CONTACTED; L4 NEW; L5 LOST; L7 QUALIFIED (see conftest)
    assert history["2026-01-07"]["CONTACTED"] == (3, "3500.00", "350.00")
    assert history["2026-01-07"]["NEW"] == (1, "300.00", "15.00")
    assert history["2026-01-07"]["QUALIFIED"] == (1, "4000.00", "1000.00")
    assert history["2026-01-07"]["LOST"] == (1, "800.00", "0.00")

    mine = get(client, "pipeline", date_from="2026-01-07", date_to="2026-01-07", owner=str(pipeline.a.pk))
    assert figures(mine["history"][0]["stages"])["CONTACTED"] == (2, "1500.00", "150.00")
    assert mine["open"] == {"count": 1, "total_value": "500.00", "weighted_value": "125.00"}
    assert [row["owner"]["id"] for row in mine["by_owner"]] == [pipeline.a.pk]
    unassigned = get(client, "pipeline", date_from="2026-01-07", date_to="2026-01-07", owner="none")
    assert figures(unassigned["history"][0]["stages"])["NEW"] == (1, "300.00", "15.00")
    assert unassigned["open"]["count"] == 1
    me = get(client_for(pipeline.organization, pipeline.a), "pipeline", owner="me")
    assert me["open"] == mine["open"]


def step(report, from_stage):
    [found] = [s for s in report["steps"] if s["from_stage"] == from_stage]
    return found["exits"], found["advanced"], found["lost"], found["rate"]


def test_conversion_overall_by_source_and_by_owner(pipeline, api):
    services.analytics_refresh()
    body = get(api(Role.VIEWER), "conversion", **JANUARY)

    overall = body["overall"]
    # out of NEW: L1, L2, L3, L7 and L5 (after reopening) advanced, L5 was lost once: 5 of 6
    assert step(overall, "NEW") == (6, 5, 1, 0.8333)
    # out of CONTACTED: L1, L3, L7 advanced, L2 lost (L6 is deleted: not counted)
    assert step(overall, "CONTACTED") == (4, 3, 1, 0.75)
    assert step(overall, "QUALIFIED") == (2, 2, 0, 1.0)
    assert step(overall, "NEGOTIATION") == (2, 2, 0, 1.0)
    assert (overall["won"], overall["lost"], overall["reopened"], overall["win_rate"]) == (2, 2, 1, 0.5)

    by_source = {row["source"]: row for row in body["by_source"]}
    assert set(by_source) == {"web", "referral", "ads"}
    assert step(by_source["web"], "CONTACTED") == (3, 2, 1, 0.6667)  # L1, L7 on, L2 lost
    assert (by_source["web"]["won"], by_source["web"]["win_rate"]) == (2, 0.6667)
    assert step(by_source["ads"], "NEW") == (2, 1, 1, 0.5)
    assert (by_source["ads"]["win_rate"], by_source["ads"]["reopened"]) == (0.0, 1)
    assert by_source["referral"]["win_rate"] is None
    assert step(by_source["referral"], "PROPOSAL") == (0, 0, 0, None)

    by_owner = {row["owner"]["id"]: row for row in body["by_owner"]}
    assert set(by_owner) == {pipeline.a.pk, pipeline.b.pk}  # L4 (no owner) never moved
    assert step(by_owner[pipeline.a.pk], "NEW") == (2, 2, 0, 1.0)  # L1, L3
    assert (by_owner[pipeline.b.pk]["won"], by_owner[pipeline.b.pk]["lost"]) == (1, 2)  # L7; L2, L5


def test_a_period_counts_the_changes_inside_it_only(pipeline, api):
    services.analytics_refresh()
    client = api(Role.VIEWER)
    # day 10 = Jan 15 and day 15 = Jan 20: only L1's NEGOTIATION (day 10) and WON (day 15)
    body = get(client, "conversion", date_from="2026-01-15", date_to="2026-01-20")
    assert step(body["overall"], "NEW") == (0, 0, 0, None)
    assert step(body["overall"], "PROPOSAL") == (1, 1, 0, 1.0)
    assert body["overall"]["won"] == 1
    # whole months from the month rollups plus edge days from the day rollups agree with the day rollups
    december_to_march = get(client, "conversion", date_from="2025-12-20", date_to="2026-03-10")
    assert december_to_march["overall"] == get(client, "conversion", **JANUARY)["overall"]
    assert get(client, "conversion", date_from="2025-01-01", date_to="2025-12-31")["by_source"] == []


def test_cycle_length_median_and_p75_by_source(pipeline, api):
    services.analytics_refresh()
    body = get(api(Role.VIEWER), "cycle-length", **JANUARY)
    # won: L7 after 5 days, L1 after 15 (both web): median 10, p75 5 + 0.75 * 10 = 12.5
    expected = {"won": 2, "average_days": 10.0, "median_days": 10.0, "p75_days": 12.5}
    assert body["approximate"] is False
    assert body["overall"] == expected
    assert body["by_source"] == [{"source": "web", **expected}]


def test_time_in_stage_average_and_median(pipeline, api):
    services.analytics_refresh()
    body = get(api(Role.VIEWER), "time-in-stage", **JANUARY)
    stages = {row["stage"]: (row["exits"], row["average_days"], row["median_days"]) for row in body["stages"]}
    assert stages == {
        # L1 1, L2 2, L3 1 (created day 1), L5 1 and again 1 after reopening, L7 1
        "NEW": (6, 1.17, 1.0),
        "CONTACTED": (4, 2.0, 2.0),  # L1 2, L2 2, L3 3, L7 1
        "QUALIFIED": (2, 2.0, 2.0),  # L1 3, L7 1
        "PROPOSAL": (2, 2.5, 2.5),  # L1 4, L7 1
        "NEGOTIATION": (2, 3.0, 3.0),  # L1 5, L7 1
        "LOST": (1, 2.0, 2.0),  # L5, reopened after 2 days
    }


def test_large_ranges_read_percentiles_from_the_histograms(pipeline, api, monkeypatch):
    services.analytics_refresh()
    monkeypatch.setattr(selectors, "EXACT_LIMIT", 0)
    client = api(Role.VIEWER)
    cycle = get(client, "cycle-length", **JANUARY)
    assert cycle["approximate"] is True
    assert cycle["overall"]["won"] == 2
    assert cycle["overall"]["average_days"] == 10.0  # sums stay exact
    assert cycle["overall"]["median_days"] == pytest.approx(10.0, rel=0.045)
    assert cycle["overall"]["p75_days"] == pytest.approx(12.5, rel=0.045)
    stages = get(client, "time-in-stage", **JANUARY)["stages"]
    medians = {row["stage"]: row["median_days"] for row in stages}
    assert medians["CONTACTED"] == pytest.approx(2.0, rel=0.045)
    assert medians["NEW"] == pytest.approx(1.0, rel=0.045)


def test_histogram_buckets_are_geometric_and_cover_every_duration():
    assert bucket_of(0) == bucket_of(59) == 0
    for seconds in (60, 61, 3600, 86_400, 86_400 * 365 * 3):
        low, high = bucket_bounds(bucket_of(seconds))
        assert low <= seconds < high
        assert high / low == pytest.approx(2 ** (1 / 8))
    assert selectors.percentile({}, 0.5) is None


def test_forecast_weights_open_opportunities_by_close_month(pipeline, api, clock):
    account = Account.objects.create(name="Initech")

    def deal(amount, probability, expected, **extra):
        Opportunity.objects.create(
            account=account,
            name=f"deal {amount}",
            amount=Decimal(amount),
            probability=probability,
            expected_close_date=expected,
            **extra,
        )

    deal("1000", 50, date(2026, 2, 20))
    deal("2000", 25, date(2026, 3, 10))
    deal("400", 10, date(2026, 3, 31))
    deal("9000", 90, date(2026, 3, 15), closed_at=clock.now, stage="CLOSED_WON")
    deal("8000", 90, date(2026, 3, 15), deleted_at=clock.now)
    deal("300", 75, date(2026, 1, 10))  # overdue
    deal("100", 50, None)  # undated

    body = get(api(Role.VIEWER), "forecast")
    assert (body["date_from"], body["date_to"]) == ("2026-02-01", "2027-01-31")
    months = {row["month"]: (row["count"], row["amount"], row["weighted_amount"]) for row in body["months"]}
    assert len(months) == 12
    assert months["2026-02"] == (1, "1000.00", "500.00")
    assert months["2026-03"] == (2, "2400.00", "540.00")
    assert months["2026-04"] == (0, "0.00", "0.00")
    assert body["total"] == {"count": 3, "amount": "3400.00", "weighted_amount": "1040.00"}
    assert body["overdue"] == {"count": 1, "amount": "300.00", "weighted_amount": "225.00"}
    assert body["undated"] == {"count": 1, "amount": "100.00", "weighted_amount": "50.00"}
    march = get(api(Role.VIEWER), "forecast", date_from="2026-03-15", date_to="2026-03-31")
    assert [row["month"] for row in march["months"]] == ["2026-03"]


ENDPOINTS = ["pipeline", "conversion", "cycle-length", "time-in-stage", "forecast"]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_from=2026-13-01", "date_from"),
        ("date_to=yesterday", "date_to"),
        ("date_from=2026-01-01T00:00:00", "date_from"),
        ("date_from=2026-02-01&date_to=2026-01-01", "date_from"),
        ("date_from=2020-01-01&date_to=2026-01-01", "date_from"),
        ("date_to=0001-01-01", "date_to"),
        ("date_from=2026-01-01%00", "date_from"),
        ("dat_from=2026-01-01", "dat_from"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api, path, query, field):
    response = api(Role.VIEWER).get(f"/api/analytics/{path}/?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


@pytest.mark.parametrize("owner", ["someone", "-1", "99999999999999999999999"])
def test_bad_owner_is_400(api, owner):
    response = api(Role.VIEWER).get(f"/api/analytics/pipeline/?owner={owner}")
    assert response.status_code == 400
    assert "owner" in response.json()["errors"]


def test_reports_need_a_signed_in_member(pipeline):
    response = client_for(pipeline.organization).get("/api/analytics/pipeline/")
    assert response.status_code in (401, 403)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_reports_read_aggregates_not_leads_or_activities(pipeline, api, path):
    services.analytics_refresh()
    client = api(Role.VIEWER)
    client.get("/api/me/")  # warm the routing cache and the token
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/analytics/{path}/?date_from=2025-02-01&date_to=2026-01-31")
    assert response.status_code == 200
    scanned = [
        q["sql"] for q in queries.captured_queries if "leads_lead" in q["sql"] or "activities_" in q["sql"]
    ]
    assert scanned == []
    # cached: the second read costs no query beyond authentication
    with CaptureQueriesContext(connection) as again:
        assert client.get(f"/api/analytics/{path}/?date_from=2025-02-01&date_to=2026-01-31").json() == (
            response.json()
        )
    assert not [q for q in again.captured_queries if "analytics_" in q["sql"] or "opportunit" in q["sql"]]


def test_another_organizations_rows_never_count(pipeline, api, other_org, member, clock):
    """Globex has its own leads and members with the same ids; acme's figures must not move."""
    services.analytics_refresh()
    client = api(Role.VIEWER)
    before = {path: get(client, path, **JANUARY) for path in ENDPOINTS if path != "pipeline"}
    before_pipeline = get(client, "pipeline")
    with schema_context(other_org.schema_name):
        globex_rep = member(role=Role.REP, organization=other_org)
        for index in range(3):
            build_lead(
                clock,
                created=0,
                steps=[("CONTACTED", 1), ("QUALIFIED", 2), ("PROPOSAL", 3), ("NEGOTIATION", 4), ("WON", 5)],
                name=f"globex {index}",
                source="event",
                owner_id=globex_rep.pk,
                value="99999",
            )
        clock.now = day(30)
        services.analytics_refresh()
    services.cache_invalidate()  # in acme: nothing of globex's may show up even when recomputed

    assert {path: get(client, path, **JANUARY) for path in before} == before
    assert get(client, "pipeline") == before_pipeline
    globex = api(Role.VIEWER, organization=other_org)
    theirs = get(globex, "conversion", **JANUARY)
    assert [row["source"] for row in theirs["by_source"]] == ["event"]
    assert theirs["overall"]["won"] == 3
    assert get(globex, "pipeline")["open"]["count"] == 0
    assert figures(get(globex, "pipeline")["stages"])["WON"] == (3, "299997.00", "299997.00")


def test_default_periods(api, clock):
    client = api(Role.VIEWER)
    assert (get(client, "conversion")["date_from"], get(client, "conversion")["date_to"]) == (
        (clock.now.date() - timedelta(days=89)).isoformat(),
        clock.now.date().isoformat(),
    )
    assert get(client, "pipeline")["date_from"] == (clock.now.date() - timedelta(days=29)).isoformat()


def test_a_period_reads_whole_months_and_the_cheaper_side_of_each_partial_month():
    year = Period(date(2025, 11, 24), date(2026, 11, 23))
    assert year.ranges(today=date(2026, 11, 23)) == [
        ("d", date(2025, 11, 24), date(2025, 12, 1), 1),  # 7 days inside, 23 outside: the days
        ("m", date(2026, 11, 1), date(2026, 12, 1), 1),  # this month up to today: its month row ...
        ("d", date(2026, 11, 24), date(2026, 12, 1), -1),  # ... minus days still to come (no rows yet)
        ("m", date(2025, 12, 1), date(2026, 11, 1), 1),  # the whole months
    ]
    most_of_january = Period(date(2026, 1, 3), date(2026, 1, 30))
    assert most_of_january.ranges(today=date(2026, 3, 1)) == [
        ("m", date(2026, 1, 1), date(2026, 2, 1), 1),
        ("d", date(2026, 1, 1), date(2026, 1, 3), -1),
        ("d", date(2026, 1, 31), date(2026, 2, 1), -1),
    ]
    assert Period(date(2026, 1, 10), date(2026, 1, 12)).ranges(today=date(2026, 3, 1)) == [
        ("d", date(2026, 1, 10), date(2026, 1, 13), 1)
    ]


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [
        (date(2026, 1, 3), date(2026, 1, 9)),
        (date(2026, 1, 6), date(2026, 2, 2)),
        (date(2025, 12, 15), date(2026, 1, 20)),
        (date(2026, 1, 2), date(2026, 1, 30)),
        (date(2026, 1, 10), date(2026, 2, 4)),
    ],
)
def test_any_period_adds_up_like_its_days(pipeline, date_from, date_to):
    """Month rows minus days give what the day rows alone give."""
    services.analytics_refresh()
    by_day = defaultdict(int)
    for row in TransitionRollup.objects.filter(
        grain="d", dimension="source", period__range=(date_from, date_to)
    ):
        by_day[(row.from_stage, row.to_stage)] += row.count
    report = selectors.conversion_report(date_from=date_from, date_to=date_to)["overall"]
    assert {(s["from_stage"], s["to_stage"]): s["advanced"] for s in report["steps"]} == {
        step: by_day.get(step, 0) for step in selectors.STEPS
    }
    assert report["won"] == sum(n for (_, to), n in by_day.items() if to == "WON")
    assert report["lost"] == sum(n for (_, to), n in by_day.items() if to == "LOST")
