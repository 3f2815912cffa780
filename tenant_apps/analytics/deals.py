"""Deal reports per pipeline and per stage as each organization configured them (tenant_apps.opportunities
Pipeline/PipelineStage): open deals by stage weighted by each stage's probability, the funnel conversion
between consecutive stages, win rate, cycle length, and the daily stage snapshots.

Deals are few next to leads and activities (thousands, not millions), so these read the live deals and
their STAGE_CHANGE entries directly instead of rollups. History stays right across renames and reorders:
entries are matched to stages by id (`to_stage_id`), or, for entries written before pipelines existed, by
the stage key they name in the default pipeline; a stage's position and name are today's."""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from shared_apps.organizations.context import organization_zone
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.analytics.models import DealStageSnapshot
from tenant_apps.currency.selectors import base_currency, rate_on
from tenant_apps.opportunities.models import Opportunity, Pipeline, PipelineStage
from tenant_apps.opportunities.pipelines import default_pipeline

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def _money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


def live_deals(pipeline: Pipeline | None = None) -> QuerySet[Opportunity]:
    deals = Opportunity.objects.filter(deleted_at__isnull=True, merged_into__isnull=True)
    return deals if pipeline is None else deals.filter(pipeline=pipeline)


def with_base_amounts(deals: QuerySet[Opportunity]) -> QuerySet[Opportunity]:
    """Each deal's rate into the base currency on its day (expected close date, else creation day)."""
    return deals.annotate(
        record_day=Coalesce("expected_close_date", TruncDate("created_at", tzinfo=organization_zone()))
    ).annotate(rate=rate_on(currency_field="currency", on_date="record_day"))


BASE_AMOUNT = ExpressionWrapper(F("amount") * F("rate"), output_field=DecimalField())
# A deal's weight is its probability: its stage's as configured (set on every move, and carried over when an
# admin changes the stage's probability), unless a member set one by hand on the deal.
WEIGHTED = ExpressionWrapper(F("amount") * F("rate") * F("probability"), output_field=DecimalField())


def stage_figures(pipeline: Pipeline | None) -> dict[int, dict[str, Any]]:
    """Per stage id: live deals now, their base amount and stage-weighted amount, unconverted count."""
    rows = (
        with_base_amounts(live_deals(pipeline))
        .values("pipeline_stage_id")
        .annotate(
            deals=Count("id"),
            amount_sum=Sum(BASE_AMOUNT),
            weighted_sum=Sum(WEIGHTED),
            unconverted=Count("id", filter=Q(rate__isnull=True)),
        )
    )
    return {
        row["pipeline_stage_id"]: {
            "count": row["deals"],
            "amount": _money(row["amount_sum"]),
            "weighted_amount": _money(Decimal(row["weighted_sum"] or 0) / 100),
            "unconverted_count": row["unconverted"],
        }
        for row in rows
    }


# ---- snapshots (a write: the analytics refresh takes today's) --------------------------------------------


@transaction.atomic
def deal_snapshot_take(*, day: date | None = None) -> int:
    """Write `day`'s (default today's) row for every stage of every pipeline from the live deals as they
    are now, zeros included; rows of stages deleted since are removed. Idempotent; returns rows written."""
    from tenant_apps.analytics.selectors import organization_today

    day = day or organization_today()
    now = timezone.now()
    figures = stage_figures(None)
    stages = list(PipelineStage.objects.all())
    empty = {"count": 0, "amount": ZERO, "weighted_amount": ZERO, "unconverted_count": 0}
    # three statements whatever the number of stages: the hourly refresh runs this for every organization
    DealStageSnapshot.objects.filter(date=day).delete()
    DealStageSnapshot.objects.bulk_create(
        DealStageSnapshot(
            date=day,
            stage_id=stage.pk,
            pipeline_id=stage.pipeline_id,
            stage_name=stage.name,
            position=stage.position,
            probability=stage.probability,
            computed_at=now,
            **figures.get(stage.pk, empty),
        )
        for stage in stages
    )
    return len(stages)


# ---- the report ------------------------------------------------------------------------------------------


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    zone = organization_zone()
    after = date_to + timedelta(days=1)
    return (
        datetime(date_from.year, date_from.month, date_from.day, tzinfo=zone),
        datetime(after.year, after.month, after.day, tzinfo=zone),
    )


def _reached(pipeline: Pipeline, stages: list[PipelineStage], deal_ids: list[int]) -> dict[int, set[int]]:
    """Per deal, the stage ids it has been in (its first stage, every stage it moved to, its current)."""
    by_key = {stage.key: stage.pk for stage in stages}
    reached: dict[int, set[int]] = {deal_id: set() for deal_id in deal_ids}
    entries = Activity.objects.filter(
        opportunity_id__in=deal_ids, type__in=(ActivityType.STAGE_CHANGE, ActivityType.CREATED)
    ).values_list("opportunity_id", "metadata")
    for deal_id, metadata in entries.iterator(chunk_size=2000):
        metadata = metadata or {}
        for id_field, key_field in (("to_stage_id", "to"), ("from_stage_id", "from"), ("stage_id", "stage")):
            stage_id = metadata.get(id_field)
            if stage_id is None and pipeline.is_default:
                stage_id = by_key.get(metadata.get(key_field) or "")
            if stage_id is not None:
                reached[deal_id].add(int(stage_id))
    return reached


def deals_report(*, date_from: date, date_to: date, pipeline: int | None = None) -> dict[str, Any]:
    """One pipeline (the default unless given): its stages in today's order with the deals in each now
    (count, base amount, amount weighted by the stage's probability); the funnel of deals created in the
    period (how many reached each open stage or beyond, and the rate from each stage to the next); deals
    closed in the period (won, lost, win rate, days from creation to close: average and median; lost ones
    by reason); and the daily stage snapshots of the period."""
    chosen = default_pipeline() if pipeline is None else Pipeline.objects.filter(pk=pipeline).first()
    if chosen is None:
        from tenant_apps.opportunities.pipelines import PipelineNotFound

        raise PipelineNotFound(id=pipeline)
    stages = list(chosen.stages.order_by("position", "id"))
    figures = stage_figures(chosen)
    start, end = _bounds(date_from, date_to)
    created = list(
        live_deals(chosen).filter(created_at__gte=start, created_at__lt=end).values_list("id", flat=True)
    )
    reached = _reached(chosen, stages, created)
    open_stages = [stage for stage in stages if not stage.is_closed]
    won_ids = {stage.pk for stage in stages if stage.is_won}
    position = {stage.pk: index for index, stage in enumerate(open_stages)}
    furthest: list[int] = []  # per created deal: index of the furthest open stage reached (won: all)
    for stages_in in reached.values():
        if stages_in & won_ids:
            furthest.append(len(open_stages))
        else:
            furthest.append(max((position[s] for s in stages_in if s in position), default=-1))
    funnel = []
    for index, stage in enumerate(open_stages):
        count = sum(1 for value in furthest if value >= index)
        following = sum(1 for value in furthest if value >= index + 1)
        funnel.append(
            {
                "stage_id": stage.pk,
                "name": stage.name,
                "reached": count,
                "to_next": following,
                "rate": round(following / count, 4) if count else None,
            }
        )
    closed = list(
        live_deals(chosen)
        .filter(closed_at__gte=start, closed_at__lt=end)
        .values("id", "created_at", "closed_at", "pipeline_stage__is_won", "lost_reason__name")
    )
    won = [row for row in closed if row["pipeline_stage__is_won"]]
    lost = [row for row in closed if not row["pipeline_stage__is_won"]]
    won_days = [
        (row["closed_at"] - row["created_at"]).total_seconds() / 86400 for row in won if row["closed_at"]
    ]
    reasons: dict[str, int] = {}
    for row in lost:
        name = row["lost_reason__name"] or "(none)"
        reasons[name] = reasons.get(name, 0) + 1
    snapshots: dict[date, list[dict[str, Any]]] = {}
    for snap in DealStageSnapshot.objects.filter(
        pipeline_id=chosen.pk, date__range=(date_from, date_to)
    ).order_by("date", "position", "stage_id"):
        snapshots.setdefault(snap.date, []).append(
            {
                "stage_id": snap.stage_id,
                "name": snap.stage_name,
                "count": snap.count,
                "amount": snap.amount,
                "weighted_amount": snap.weighted_amount,
            }
        )
    empty = {"count": 0, "amount": ZERO, "weighted_amount": ZERO, "unconverted_count": 0}
    stage_rows = [
        {
            "id": stage.pk,
            "key": stage.key,
            "name": stage.name,
            "position": stage.position,
            "probability": stage.probability,
            "is_won": stage.is_won,
            "is_lost": stage.is_lost,
            "rotting_days": stage.rotting_days,
            **figures.get(stage.pk, empty),
        }
        for stage in stages
    ]
    open_rows = [row for row in stage_rows if not (row["is_won"] or row["is_lost"])]
    return {
        "date_from": date_from,
        "date_to": date_to,
        "base_currency": base_currency(),
        "pipeline": {"id": chosen.pk, "name": chosen.name},
        "stages": stage_rows,
        "open": {
            "count": sum(row["count"] for row in open_rows),
            "amount": sum((row["amount"] for row in open_rows), ZERO),
            "weighted_amount": sum((row["weighted_amount"] for row in open_rows), ZERO),
        },
        "funnel": {"created": len(created), "stages": funnel},
        "closed": {
            "won": len(won),
            "lost": len(lost),
            "win_rate": round(len(won) / len(closed), 4) if closed else None,
            "lost_reasons": [{"name": k, "count": v} for k, v in sorted(reasons.items())],
        },
        "cycle_length": {
            "won": len(won),
            "average_days": round(sum(won_days) / len(won_days), 2) if won_days else None,
            "median_days": round(statistics.median(won_days), 2) if won_days else None,
        },
        "snapshots": [{"date": day, "stages": rows} for day, rows in sorted(snapshots.items())],
    }
