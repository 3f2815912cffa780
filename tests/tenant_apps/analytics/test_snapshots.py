"""Snapshots (idempotent upserts, back-fill from the activity log), fact ingestion and the scheduled job."""

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.core.errors import InvalidInput
from shared_apps.organizations import services as organization_services
from shared_apps.organizations.jobs import fan_out
from tenant_apps.analytics import services
from tenant_apps.analytics.jobs import analytics_refresh
from tenant_apps.analytics.models import (
    AnalyticsState,
    PipelineSnapshot,
    PipelineTotal,
    StageTransition,
    TransitionRollup,
)
from tenant_apps.leads import services as lead_services
from tests.tenant_apps.analytics.conftest import TODAY, build_lead, day


def snapshot(on):
    return {
        (row.stage, row.owner_id): (row.count, row.total_value, row.weighted_value)
        for row in PipelineSnapshot.objects.filter(date=on)
    }


def totals(on):
    return {row.stage: (row.count, row.total_value) for row in PipelineTotal.objects.filter(date=on)}


def test_snapshot_twice_leaves_one_row_per_key_with_the_latest_numbers(pipeline, clock):
    a, b = pipeline.a.pk, pipeline.b.pk
    assert services.snapshot_take() == 6
    first = snapshot(TODAY)
    assert first == {
        ("NEW", None): (1, Decimal("300.00"), Decimal("15.00")),
        ("CONTACTED", b): (1, Decimal("800.00"), Decimal("80.00")),
        ("QUALIFIED", a): (1, Decimal("500.00"), Decimal("125.00")),
        ("WON", a): (1, Decimal("1000.00"), Decimal("1000.00")),
        ("WON", b): (1, Decimal("4000.00"), Decimal("4000.00")),
        ("LOST", b): (1, Decimal("2000.00"), Decimal("0.00")),
    }
    assert services.snapshot_take() == 6
    assert PipelineSnapshot.objects.filter(date=TODAY).count() == 6
    assert snapshot(TODAY) == first
    assert PipelineTotal.objects.filter(date=TODAY).count() == 7  # every stage, zeros included

    # L4 leaves (NEW, no owner): the key disappears; L5 moves on: its value follows it
    lead_services.lead_transition(lead_id=pipeline.leads["L4"].pk, to_stage="LOST", actor=None)
    lead_services.lead_transition(lead_id=pipeline.leads["L5"].pk, to_stage="QUALIFIED", actor=None)
    services.snapshot_take()
    again = snapshot(TODAY)
    assert ("NEW", None) not in again
    assert again[("LOST", None)] == (1, Decimal("300.00"), Decimal("0.00"))
    assert again[("QUALIFIED", b)] == (1, Decimal("800.00"), Decimal("200.00"))
    assert ("CONTACTED", b) not in again
    assert totals(TODAY)["NEW"] == (0, Decimal("0.00"))
    assert PipelineSnapshot.objects.filter(date=TODAY).values("stage", "owner_id").distinct().count() == len(
        again
    )


def test_back_fill_rebuilds_a_past_day_from_the_activity_log(pipeline):
    a, b = pipeline.a.pk, pipeline.b.pk
    # end of Jan 7 (day 2, see conftest): L1 CONTACTED (A), L2 CONTACTED (B), L3 CONTACTED (A), L4 NEW,
    # L5 LOST (B), L7 QUALIFIED (B); L6 is deleted now, so it is left out of the past too
    rows = services.snapshot_backfill(date_from=date(2026, 1, 7), date_to=date(2026, 1, 7))
    expected = {
        ("CONTACTED", a): (2, Decimal("1500.00"), Decimal("150.00")),
        ("CONTACTED", b): (1, Decimal("2000.00"), Decimal("200.00")),
        ("NEW", None): (1, Decimal("300.00"), Decimal("15.00")),
        ("LOST", b): (1, Decimal("800.00"), Decimal("0.00")),
        ("QUALIFIED", b): (1, Decimal("4000.00"), Decimal("1000.00")),
    }
    assert rows == 5
    assert snapshot(date(2026, 1, 7)) == expected
    assert totals(date(2026, 1, 7))["CONTACTED"] == (3, Decimal("3500.00"))

    # a range: before anything existed, then day by day; running it again changes nothing
    services.snapshot_backfill(date_from=date(2026, 1, 3), date_to=date(2026, 1, 21))
    services.snapshot_backfill(date_from=date(2026, 1, 3), date_to=date(2026, 1, 21))
    assert snapshot(date(2026, 1, 7)) == expected
    assert snapshot(date(2026, 1, 4)) == {}
    assert totals(date(2026, 1, 4)) == {stage: (0, Decimal("0.00")) for stage in totals(date(2026, 1, 4))}
    # end of Jan 5 (day 0): L2, L5 and L7 are B's, all NEW
    assert snapshot(date(2026, 1, 5))[("NEW", b)] == (3, Decimal("6800.00"), Decimal("340.00"))
    # L1 won on day 15 = Jan 20
    assert snapshot(date(2026, 1, 19))[("NEGOTIATION", a)][0] == 1
    assert snapshot(date(2026, 1, 20))[("WON", a)][0] == 1
    assert ("NEGOTIATION", a) not in snapshot(date(2026, 1, 20))


def test_back_fill_of_today_agrees_with_the_snapshot(pipeline):
    services.snapshot_take()
    taken = snapshot(TODAY)
    services.snapshot_backfill(date_from=TODAY, date_to=TODAY)
    assert snapshot(TODAY) == taken


@pytest.mark.parametrize(
    ("date_from", "date_to", "field"),
    [
        (date(2026, 1, 10), date(2026, 1, 9), "date_to"),
        (TODAY, TODAY + timedelta(days=1), "date_to"),
        (date(2020, 1, 1), date(2026, 1, 1), "date_from"),
        ("2026-01-01", date(2026, 1, 2), "date_from"),
    ],
)
def test_back_fill_refuses_bad_ranges(in_org, clock, date_from, date_to, field):
    with pytest.raises(InvalidInput) as refused:
        services.snapshot_backfill(date_from=date_from, date_to=date_to)
    assert refused.value.field == field


def test_ingest_adds_each_stage_change_once(pipeline, clock):
    assert services.transitions_ingest(batch_size=4) == 18  # every STAGE_CHANGE of the seven leads
    assert services.transitions_ingest() == 0
    facts = StageTransition.objects.filter(lead_id=pipeline.leads["L5"].pk).order_by("at")
    assert [(f.from_stage, f.to_stage, f.seconds_in_stage, f.source) for f in facts] == [
        ("NEW", "LOST", 86_400, "ads"),
        ("LOST", "NEW", 2 * 86_400, "ads"),
        ("NEW", "CONTACTED", 86_400, "ads"),
    ]
    # L6 was deleted before it was ingested: its fact is kept but does not count
    assert [f.counted for f in StageTransition.objects.filter(lead_id=pipeline.leads["L6"].pk)] == [False]
    rolled = TransitionRollup.objects.filter(grain="m", dimension="source")
    assert sum(row.count for row in rolled) == 17

    # a later change: the stay in QUALIFIED is measured from the change ingested before
    clock.now = day(31)
    lead_services.lead_transition(lead_id=pipeline.leads["L3"].pk, to_stage="PROPOSAL", actor=None)
    assert services.transitions_ingest() == 1
    latest = StageTransition.objects.filter(lead_id=pipeline.leads["L3"].pk).order_by("-at").first()
    assert (latest.to_stage, latest.seconds_in_stage) == ("PROPOSAL", 26 * 86_400)


def test_watermark_waits_for_late_commits(pipeline, clock):
    services.transitions_ingest()
    # everything was stamped "now" (day 30 and before): only what is an hour old lets the watermark move
    state = AnalyticsState.objects.get()
    newest_old_enough = max(
        f.activity_id for f in StageTransition.objects.all() if f.at < clock.now - services.WATERMARK_SAFETY
    )
    assert state.activity_watermark >= newest_old_enough
    clock.now = day(31)
    lead_services.lead_transition(lead_id=pipeline.leads["L3"].pk, to_stage="PROPOSAL", actor=None)
    services.transitions_ingest()
    fresh = StageTransition.objects.order_by("-activity_id").first()
    assert AnalyticsState.objects.get().activity_watermark < fresh.activity_id  # re-examined next time
    assert services.transitions_ingest() == 0


def test_refresh_is_fanned_out_over_every_active_organization(
    pipeline, other_org, clock, run_jobs, django_capture_on_commit_callbacks
):
    with schema_context(other_org.schema_name):
        build_lead(clock, created=29, steps=[("CONTACTED", 29.5)], name="Globex lead", value="10")
        clock.now = day(30)
    connection.set_schema_to_public()
    organization_services.organization_set_status(organization=other_org, status="suspended")
    with django_capture_on_commit_callbacks(execute=True):
        schemas = fan_out(analytics_refresh, queue="low")
    assert pipeline.organization.schema_name in schemas
    assert other_org.schema_name not in schemas

    jobs = run_jobs("low")
    assert all(job.is_finished for job in jobs), [job.latest_result().exc_string for job in jobs]
    results = {job.meta["schema_name"]: job.return_value() for job in jobs}
    assert sorted(results) == sorted(schemas)
    assert results[pipeline.organization.schema_name]["ingested"] == 18
    with schema_context(pipeline.organization.schema_name):
        assert totals(TODAY)["WON"] == (2, Decimal("5000.00"))
    with schema_context(other_org.schema_name):
        assert not PipelineTotal.objects.exists()  # suspended: skipped

    connection.set_schema_to_public()
    organization_services.organization_set_status(organization=other_org, status="active")
    with django_capture_on_commit_callbacks(execute=True):
        fan_out(analytics_refresh, queue="low")
    run_jobs("low")
    with schema_context(other_org.schema_name):
        assert totals(TODAY)["CONTACTED"] == (1, Decimal("10.00"))
        assert StageTransition.objects.count() == 1
    with schema_context(pipeline.organization.schema_name):
        assert StageTransition.objects.count() == 18  # the second run added nothing


def test_back_fill_command(pipeline):
    out = StringIO()
    call_command("analytics_backfill", "acme", "2026-01-07", "2026-01-07", stdout=out)
    assert "5 snapshot rows written" in out.getvalue()
    with schema_context(pipeline.organization.schema_name):
        assert totals(date(2026, 1, 7))["CONTACTED"] == (3, Decimal("3500.00"))
    with pytest.raises(CommandError, match="no live organization"):
        call_command("analytics_backfill", "initech", "2026-01-07", "2026-01-07")
    with pytest.raises(CommandError, match="date_to"):
        call_command("analytics_backfill", "acme", "2026-01-07", "2027-01-07")
