"""The dashboard's figures for a large organization, from the analytics layer (today's pipeline snapshot,
the transition rollups and facts) instead of live scans, so the dashboard costs the same at 1M leads as at
300. A small organization's dashboard stays live (exact to the last change; snapshots follow a change by
a job's delay). What reads which is decided by the latest snapshot's open count (one small query)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from shared_apps.users.models import User
from tenant_apps.analytics import selectors as analytics
from tenant_apps.analytics.models import PipelineSnapshot, PipelineTotal, StageTransition
from tenant_apps.leads.models import OPEN_STAGES, Stage
from tenant_apps.leads.selectors import lead_list
from tenant_apps.opportunities.stage_labels import lead_stage_labels
from tenant_apps.records import visibility
from tenant_apps.web.selectors import (
    CONVERSION_DAYS,
    TREND_WEEKS,
    Column,
    Conversion,
    Figures,
    Step,
    Week,
    totals_text,
)

LIVE_LIMIT = 20_000  # open leads beyond which the dashboard reads the analytics layer


def snapshot_open_count() -> int | None:
    """Open leads in the latest pipeline snapshot (None when there is none yet)."""
    latest = PipelineTotal.objects.filter(date__lte=analytics.organization_today()).order_by("-date").first()
    if latest is None:
        return None
    found = PipelineTotal.objects.filter(date=latest.date, stage__in=OPEN_STAGES).aggregate(n=Sum("count"))
    return int(found["n"] or 0)


def use_analytics() -> bool:
    open_count = snapshot_open_count()
    return open_count is not None and open_count > LIVE_LIMIT


def _owner_of(actor: User) -> int | None:
    """A rep kept to their own leads reads their own row of the snapshot; everyone else the whole pipeline."""
    return None if visibility.sees_all_leads(actor) else actor.pk


def stage_summary(*, actor: User, base: str) -> tuple[dict[str, Column], list[tuple[str, Figures]]]:
    """Per stage its count and base-currency total from today's snapshot, and the open pipeline per currency
    (the report's by_currency and unconverted), the base currency first."""
    today = analytics.organization_today()
    owner = _owner_of(actor)
    report = analytics.cached(
        "web-dashboard-pipeline",
        {"day": today, "owner": owner},
        lambda: analytics.pipeline_report(date_from=today, date_to=today, owner=owner),
    )
    columns = {stage: Column(stage=stage, label=label) for stage, label in Stage.choices}
    for row in report["stages"]:
        column, total = columns[row["stage"]], Decimal(row["total_value"])
        column.count = row["count"]
        column.totals = {base: total}
        column.currencies = {base: Figures(count=row["count"], amount=total, base_amount=total)}
        column.total_text = totals_text(column.totals, base)
    unconverted = {item["currency"]: item for item in report["unconverted"]}
    breakdown = [
        (
            item["currency"],
            Figures(
                count=item["count"],
                amount=Decimal(item["amount"]),
                base_amount=Decimal(item["base_amount"]),
                unconverted_count=int(unconverted.get(item["currency"], {}).get("count", 0)),
                unconverted_amount=Decimal(unconverted.get(item["currency"], {}).get("amount", 0)),
            ),
        )
        for item in report["by_currency"]
    ]
    return columns, sorted(breakdown, key=lambda pair: (pair[0] != base, pair[0]))


def board_summary(
    *, actor: User, base: str, filters: dict[str, Any] | None = None
) -> dict[str, Column] | None:
    """The board's per-stage counts and base-currency totals from today's pipeline snapshot (a few hundred
    rows however many leads), narrowed as the board is: the actor's visibility (a rep kept to their own
    leads: theirs and the unassigned) and the owner filter. None for a small organization (the board counts
    live, exact to the last change) and for a tag filter (the snapshot has no tags: counted live, over the
    tag's leads only)."""
    filters = filters or {}
    if filters.get("tag") or not use_analytics():
        return None
    latest = PipelineTotal.objects.filter(date__lte=analytics.organization_today()).aggregate(day=Max("date"))
    rows = PipelineSnapshot.objects.filter(date=latest["day"])
    if not visibility.sees_all_leads(actor):
        rows = rows.filter(Q(owner_id=actor.pk) | Q(owner_id__isnull=True))
    owner = filters.get("owner")
    if owner == "me":
        rows = rows.filter(owner_id=actor.pk)
    elif owner == "none":
        rows = rows.filter(owner_id__isnull=True)
    elif owner is not None:
        rows = rows.filter(owner_id=owner)
    labels = lead_stage_labels()
    columns = {stage: Column(stage=stage, label=labels[stage]) for stage in Stage.values}
    totals: Any = rows.order_by().values("stage").annotate(n=Sum("count"), total=Sum("total_value"))
    for row in totals:
        column, total = columns[row["stage"]], Decimal(row["total"] or 0)
        column.count = int(row["n"] or 0)
        column.totals = {base: total}
        column.currencies = {base: Figures(count=column.count, amount=total, base_amount=total)}
    for column in columns.values():
        column.total_text = totals_text(column.totals, base)
    return columns


def conversion(*, days: int = CONVERSION_DAYS) -> Conversion:
    today = analytics.organization_today()
    report = analytics.cached(
        "web-dashboard-conversion",
        {"day": today, "days": days},
        lambda: analytics.conversion_report(date_from=today - timedelta(days=days), date_to=today),
    )["overall"]
    steps = [
        Step(
            from_stage=step["from_stage"],
            to_stage=step["to_stage"],
            exits=step["exits"],
            advanced=step["advanced"],
        )
        for step in report["steps"]
    ]
    return Conversion(days=days, steps=steps, won=report["won"], lost=report["lost"])


CREATED_TTL = 24 * 3600  # a finished week's "created" figure, cached (see weekly_trend)


def _created_by_week(actor: User, since: datetime, until: datetime | None = None) -> dict[datetime, int]:
    created: Any = lead_list(actor=actor).select_related(None).filter(created_at__gte=since)
    if until is not None:
        created = created.filter(created_at__lt=until)
    rows = created.annotate(week=TruncWeek("created_at")).order_by().values("week").annotate(n=Count("id"))
    return {row["week"]: row["n"] for row in rows}


def weekly_trend(*, actor: User, weeks: int = TREND_WEEKS, now: datetime | None = None) -> list[Week]:
    """Created per week from the leads, won per week from the transition facts. The finished weeks' created
    counts (at 1M leads some 200,000 leads, over a second to count) are cached for the day per week range and
    visibility (a lead deleted, merged or restored meanwhile shows there from the next day). This week's
    created and the won series are cached as the analytics reports are (`analytics.cached`: dropped at every
    lead change and every refresh), so they stay exact to the last change."""
    now = timezone.localtime(now or timezone.now())
    this_week = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    first = this_week - timedelta(weeks=weeks - 1)
    series = {
        first + timedelta(weeks=index): Week(start=first + timedelta(weeks=index)) for index in range(weeks)
    }
    owner = _owner_of(actor)
    scope = "all" if owner is None else f"member-{owner}"
    key = f"web-dashboard-created:{first.isoformat()}:{this_week.isoformat()}:{scope}"
    finished = cache.get(key)
    if finished is None:
        finished = _created_by_week(actor, first, this_week)
        cache.set(key, finished, CREATED_TTL)

    def latest() -> tuple[dict[datetime, int], dict[datetime, int]]:
        facts = StageTransition.objects.filter(counted=True, to_stage=Stage.WON, at__gte=first)
        if owner is not None:
            facts = facts.filter(owner_id=owner)
        won: Any = facts.annotate(week=TruncWeek("at")).order_by().values("week")
        won = won.annotate(n=Count("activity_id"))
        return _created_by_week(actor, this_week), {row["week"]: row["n"] for row in won}

    current, won = analytics.cached(
        "web-dashboard-trend", {"first": first.isoformat(), "scope": scope}, latest
    )
    for week, count in (*finished.items(), *current.items()):
        if week in series:
            series[week].created += count
    for week, count in won.items():
        if week in series:
            series[week].won = count
    return list(series.values())
