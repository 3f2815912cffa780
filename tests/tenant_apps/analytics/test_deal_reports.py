"""Deal reports per pipeline and per stage as configured: open deals weighted by each stage's probability,
the funnel, win rate and cycle length, the forecast narrowed to a pipeline, and daily stage snapshots."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.analytics.deals import deal_snapshot_take
from tenant_apps.analytics.models import DealStageSnapshot
from tests.tenant_apps.accounts.factories import make_account, make_opportunity

__all__ = ["make_account", "make_opportunity"]  # fixtures


def _renewals(admin):
    body = {
        "name": "Renewals",
        "stages": [
            {"name": "Due", "probability": 30},
            {"name": "Quoted", "probability": 60},
            {"name": "Renewed", "is_won": True},
            {"name": "Churned", "is_lost": True},
        ],
    }
    pipeline = admin.post("/api/pipelines/", body, format="json").json()
    return pipeline, {stage["name"]: stage["id"] for stage in pipeline["stages"]}


def _deal(admin, account, pipeline, amount, *moves):
    today = timezone.localdate().isoformat()
    deal = admin.post(
        "/api/opportunities/",
        {
            "name": f"Deal {amount}",
            "account": account.pk,
            "pipeline": pipeline["id"],
            "amount": str(amount),
            "currency": "USD",
            "expected_close_date": today,
        },
        format="json",
    ).json()
    for stage in moves:
        response = admin.post(f"/api/opportunities/{deal['id']}/stage/", {"stage": stage}, format="json")
        assert response.status_code == 200, response.content
    return deal


def test_the_deals_report_follows_the_pipeline_as_configured(
    api, make_account, make_opportunity, org, django_capture_on_commit_callbacks
):
    admin = api(Role.ADMIN)
    pipeline, stages = _renewals(admin)
    account = make_account()
    _deal(admin, account, pipeline, 1000)
    _deal(admin, account, pipeline, 2000, stages["Quoted"])
    _deal(admin, account, pipeline, 4000, stages["Quoted"], stages["Renewed"])
    make_opportunity(amount=Decimal("99999"))  # the default pipeline's: not in this report
    report = api(Role.VIEWER).get("/api/analytics/deals/", {"pipeline": pipeline["id"]})
    assert report.status_code == 200, report.content
    body = report.json()
    rows = {row["name"]: row for row in body["stages"]}
    assert [row["name"] for row in body["stages"]] == ["Due", "Quoted", "Renewed", "Churned"]
    assert (rows["Due"]["count"], rows["Due"]["weighted_amount"]) == (1, "300.00")
    assert (rows["Quoted"]["count"], rows["Quoted"]["weighted_amount"]) == (1, "1200.00")
    assert (rows["Renewed"]["count"], rows["Renewed"]["amount"]) == (1, "4000.00")
    assert body["open"] == {"count": 2, "amount": "3000.00", "weighted_amount": "1500.00"}
    funnel = {row["name"]: row for row in body["funnel"]["stages"]}
    assert body["funnel"]["created"] == 3
    assert (funnel["Due"]["reached"], funnel["Due"]["to_next"]) == (3, 2)
    assert (funnel["Quoted"]["reached"], funnel["Quoted"]["to_next"], funnel["Quoted"]["rate"]) == (2, 1, 0.5)
    assert (body["closed"]["won"], body["closed"]["lost"], body["closed"]["win_rate"]) == (1, 0, 1.0)
    assert body["cycle_length"]["won"] == 1 and body["cycle_length"]["average_days"] is not None

    # renaming and reordering a stage: the same deals and history, today's names and order (the changes
    # drop the cached report when they commit)
    with django_capture_on_commit_callbacks(execute=True):
        admin.patch(
            f"/api/pipelines/{pipeline['id']}/stages/{stages['Due']}/", {"name": "Up next"}, format="json"
        )
        admin.post(
            f"/api/pipelines/{pipeline['id']}/stages/reorder/",
            {"stages": [stages["Quoted"], stages["Due"], stages["Renewed"], stages["Churned"]]},
            format="json",
        )
    again = api(Role.VIEWER).get("/api/analytics/deals/", {"pipeline": pipeline["id"]}).json()
    assert [row["name"] for row in again["stages"]][:2] == ["Quoted", "Up next"]
    assert {row["name"]: row["count"] for row in again["stages"]}["Up next"] == 1


def test_the_forecast_narrows_to_a_pipeline_and_weighs_by_stage_probability(
    api, make_account, django_capture_on_commit_callbacks
):
    admin = api(Role.ADMIN)
    pipeline, stages = _renewals(admin)
    account = make_account()
    _deal(admin, account, pipeline, 1000)
    _deal(admin, account, pipeline, 2000, stages["Quoted"])
    forecast = api(Role.VIEWER).get("/api/analytics/forecast/", {"pipeline": pipeline["id"]}).json()
    assert forecast["total"] == {"count": 2, "amount": "3000.00", "weighted_amount": "1500.00"}
    assert forecast["pipeline"] == pipeline["id"]
    by_stage = {row["name"]: row for row in forecast["by_stage"]}
    assert set(by_stage) == {"Due", "Quoted"}
    assert (by_stage["Quoted"]["probability"], by_stage["Quoted"]["weighted_amount"]) == (60, "1200.00")
    # a stage's new probability counts at once (the change drops the cached report when it commits)
    with django_capture_on_commit_callbacks(execute=True):
        admin.patch(
            f"/api/pipelines/{pipeline['id']}/stages/{stages['Due']}/", {"probability": 50}, format="json"
        )
    again = api(Role.VIEWER).get("/api/analytics/forecast/", {"pipeline": pipeline["id"]}).json()
    assert again["total"]["weighted_amount"] == "1700.00"
    bad = api(Role.VIEWER).get("/api/analytics/forecast/", {"pipeline": "x"})
    assert bad.status_code == 400 and "pipeline" in bad.json()["errors"]


def test_stage_snapshots_keep_each_days_stages_and_names(api, make_account, org):
    admin = api(Role.ADMIN)
    pipeline, stages = _renewals(admin)
    _deal(admin, make_account(), pipeline, 1000, stages["Quoted"])
    with schema_context(org.schema_name):
        written = deal_snapshot_take()
        assert written >= 4
        row = DealStageSnapshot.objects.get(date=timezone.localdate(), stage_id=stages["Quoted"])
        assert (row.stage_name, row.count, row.weighted_amount) == ("Quoted", 1, Decimal("600.00"))
        assert deal_snapshot_take() == written  # idempotent
        assert DealStageSnapshot.objects.filter(stage_id=stages["Quoted"]).count() == 1
    report = api(Role.VIEWER).get("/api/analytics/deals/", {"pipeline": pipeline["id"]}).json()
    [today] = report["snapshots"]
    assert {row["name"]: row["count"] for row in today["stages"]}["Quoted"] == 1


def test_the_deals_report_refuses_unknown_parameters_and_pipelines(api):
    client = api(Role.VIEWER)
    assert client.get("/api/analytics/deals/", {"pipline": "1"}).status_code == 400
    missing = client.get("/api/analytics/deals/", {"pipeline": "987654"})
    assert (missing.status_code, missing.json()["code"]) == (404, "pipeline_not_found")


def test_a_probability_set_on_a_deal_by_hand_outlives_the_stages_change(api, make_account, org):
    admin = api(Role.ADMIN)
    pipeline, stages = _renewals(admin)
    account = make_account()
    follows = _deal(admin, account, pipeline, 1000)
    typed = _deal(admin, account, pipeline, 1000)
    admin.patch(f"/api/opportunities/{typed['id']}/", {"probability": 90}, format="json")
    admin.patch(
        f"/api/pipelines/{pipeline['id']}/stages/{stages['Due']}/", {"probability": 40}, format="json"
    )
    assert admin.get(f"/api/opportunities/{follows['id']}/").json()["probability"] == 40
    assert admin.get(f"/api/opportunities/{typed['id']}/").json()["probability"] == 90
    forecast = api(Role.VIEWER).get("/api/analytics/forecast/", {"pipeline": pipeline["id"]}).json()
    assert forecast["total"]["weighted_amount"] == "1300.00"
