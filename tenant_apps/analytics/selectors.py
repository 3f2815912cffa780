# ruff: noqa: S608  (SQL is built from table names and constants only; every value is a parameter)
"""Reads for the analytics reports: each reads snapshots and rollups (a few thousand rows at most, whatever
the organization's size), never every lead or every activity.

Reports over a date range read whole months from the month rollups and the days at the range's edges
from the day rollups. Medians and percentiles are exact (PostgreSQL's percentile_cont over the facts)
while the range holds at most EXACT_LIMIT facts, and read from the duration histograms beyond that
(within ~4.5%, interpolated inside the bucket); responses say which with "approximate".

Every report is cached per organization (the default cache's keys carry the schema) under a generation
token that any lead change replaces (services.cache_invalidate), so a stale report is never served after a
change commits; the TTL only bounds memory.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Q, Sum
from django.db.models.functions import Coalesce, TruncDate, TruncMonth, Upper

from shared_apps.core import localtime
from shared_apps.core.db import connection
from shared_apps.organizations.context import organization_zone
from shared_apps.users.models import User
from tenant_apps.analytics import deals as deal_reports
from tenant_apps.analytics.models import (
    Dimension,
    DurationHistogram,
    Metric,
    PipelineCurrency,
    PipelineSnapshot,
    PipelineTotal,
    StageTransition,
    TransitionRollup,
    bucket_bounds,
)
from tenant_apps.currency.selectors import base_currency, rate_on
from tenant_apps.leads.models import OPEN_STAGES, Stage
from tenant_apps.opportunities.models import Opportunity, PipelineStage

GENERATION_KEY = "analytics:generation"
REFRESH_PENDING_KEY = "analytics:refresh-pending"
CACHE_TTL = 300
EXACT_LIMIT = 5_000
MONTH_ROW_COST = 3  # a month's rollup rows, in days' worth of day rows (more keys are present in a month)
DAY_SECONDS = 86_400
ZERO = Decimal("0.00")
CENT = Decimal("0.01")

# The forward steps of the pipeline, whose conversion rates are reported.
STEPS = tuple(zip(OPEN_STAGES, (*OPEN_STAGES[1:], Stage.WON), strict=True))
# Stages a lead can leave: the ones time in stage is reported for (WON is final).
LEFT_STAGES = (*OPEN_STAGES, Stage.LOST)
STAGES = tuple(Stage.values)


def cached(name: str, params: dict[str, Any], build: Callable[[], Any]) -> Any:
    """The report `name` for `params` from the organization's cache, built and stored on a miss."""
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        generation = "0"
        cache.add(GENERATION_KEY, generation, timeout=None)
    key = f"analytics:{generation}:{name}:" + "&".join(f"{k}={params[k]}" for k in sorted(params))
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, timeout=CACHE_TTL)
    return value


@dataclass(frozen=True)
class Period:
    """Days from `date_from` to `date_to`, inclusive, in the project's time zone."""

    date_from: date
    date_to: date

    def ranges(self, today: date | None = None) -> list[tuple[str, date, date, int]]:
        """(grain, first, after, sign): what to add up (sign 1) and take away (sign -1) to cover the period
        with as few rollup rows as possible. Whole months are month rows. A month the period only partly
        covers is either its days inside the period, or its month row minus its days outside the period,
        whichever reads fewer days; days after today hold nothing yet and cost nothing, so a period ending
        today reads this month's month row. A year thus reads about 12 month rows and at most ~15 days of
        day rows per key, instead of 365 day rows."""
        today = today or organization_today()
        ranges: list[tuple[str, date, date, int]] = []
        whole: list[date] = []
        end = self.date_to + timedelta(days=1)
        month = date(self.date_from.year, self.date_from.month, 1)
        while month < end:
            after_month = _next_month(month)
            first, after = max(month, self.date_from), min(after_month, end)
            if (first, after) == (month, after_month):
                whole.append(month)
            else:
                inside = (after - first).days
                recorded_until = max(after, min(after_month, today + timedelta(days=1)))
                outside = (first - month).days + (recorded_until - after).days
                if outside + MONTH_ROW_COST < inside:
                    ranges.append(("m", month, after_month, 1))
                    ranges.append(("d", month, first, -1))
                    ranges.append(("d", after, after_month, -1))
                else:
                    ranges.append(("d", first, after, 1))
            month = after_month
        if whole:  # only the first and last months can be partial: the whole ones are consecutive
            ranges.append(("m", whole[0], _next_month(whole[-1]), 1))
        return [(grain, first, after, sign) for grain, first, after, sign in ranges if first < after]

    def union(self, select: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """`select` once per range, UNION ALL: `select` says `{grain}`, `{first}` and `{after}` where the
        range goes and multiplies what it sums by `{sign}`. Separate branches (rather than ORs) let each
        be an index-only range scan."""
        branches, params = [], dict(params)
        for index, (grain, first, after, sign) in enumerate(self.ranges()):
            branches.append(
                select.format(
                    grain=f"'{grain}'", first=f"%(first{index})s", after=f"%(after{index})s", sign=sign
                )
            )
            params[f"first{index}"], params[f"after{index}"] = first, after
        return " UNION ALL ".join(branches), params

    def bounds(self) -> tuple[datetime, datetime]:
        tz = organization_zone()
        after = self.date_to + timedelta(days=1)
        return (
            datetime(self.date_from.year, self.date_from.month, self.date_from.day, tzinfo=tz),
            datetime(after.year, after.month, after.day, tzinfo=tz),
        )


def organization_today() -> date:
    """Analytics counts the organization's days, whoever reads: its rollups and snapshots are stored per day
    of its time zone (Organization.time_zone), so a member in another zone sees the same figures."""
    return localtime.today(organization_zone())


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _fetch(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _owners(ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    wanted = {owner_id for owner_id in ids if owner_id is not None}
    if not wanted:
        return {}
    rows: Iterable[Any] = User.objects.filter(pk__in=wanted).values("id", "email", "full_name")
    return {row["id"]: row for row in rows}


def _owner_key(key: str) -> int | None:
    return int(key) if key else None


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / DAY_SECONDS, 2)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# ---- pipeline -----------------------------------------------------------------------------------------


def _money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


def _stage_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sum rows with stage/count/total_value/weighted_value into one row per stage, every stage listed."""
    by_stage: dict[str, dict[str, Any]] = {
        stage: {"stage": stage, "count": 0, "total_value": ZERO, "weighted_value": ZERO} for stage in STAGES
    }
    for row in rows:
        into = by_stage[row["stage"]]
        into["count"] += row["count"]
        into["total_value"] += _money(row["total_value"])
        into["weighted_value"] += _money(row["weighted_value"])
    return list(by_stage.values())


def _open(stages: list[dict[str, Any]]) -> dict[str, Any]:
    open_rows = [row for row in stages if row["stage"] in OPEN_STAGES]
    return {
        "count": sum(row["count"] for row in open_rows),
        "total_value": sum((row["total_value"] for row in open_rows), ZERO),
        "weighted_value": sum((row["weighted_value"] for row in open_rows), ZERO),
    }


def _currencies(snapshot_date: date | None, owner: int | str | None) -> dict[str, Any]:
    """The open pipeline of the snapshot by currency: per currency its count, its amount in that currency
    and in the base currency (at the rate of each lead's creation day), and apart the leads whose currency
    has no rate for their day: `unconverted` (count and original amount), in no total."""
    rows_of = (
        PipelineCurrency.objects.filter(date=snapshot_date)
        if snapshot_date
        else PipelineCurrency.objects.none()
    )
    if owner == "none":
        rows_of = rows_of.filter(owner_id__isnull=True)
    elif owner is not None:
        rows_of = rows_of.filter(owner_id=owner)
    rows: Iterable[Any] = (
        rows_of.values("currency")
        .annotate(
            n=Sum("count"),
            amount=Sum("value"),
            base_amount=Sum("base_value"),
            unconverted_n=Sum("unconverted_count"),
            unconverted_amount=Sum("unconverted_value"),
        )
        .order_by("currency")
    )
    by_currency, unconverted = [], []
    for row in rows:
        by_currency.append(
            {
                "currency": row["currency"],
                "count": int(row["n"]),
                "amount": _money(row["amount"]),
                "base_amount": _money(row["base_amount"]),
            }
        )
        if row["unconverted_n"]:
            unconverted.append(
                {
                    "currency": row["currency"],
                    "count": int(row["unconverted_n"]),
                    "amount": _money(row["unconverted_amount"]),
                }
            )
    return {"base_currency": base_currency(), "by_currency": by_currency, "unconverted": unconverted}


def pipeline_report(*, date_from: date, date_to: date, owner: int | str | None = None) -> dict[str, Any]:
    """The current pipeline (the latest snapshot, normally today's) by stage and by owner, and its daily
    history over the period (days without a snapshot are absent). `owner`: a member id, "none" (no
    owner) or None (everyone) narrows all three."""
    snapshots = PipelineSnapshot.objects.all()
    if owner == "none":
        snapshots = snapshots.filter(owner_id__isnull=True)
    elif owner is not None:
        snapshots = snapshots.filter(owner_id=owner)
    latest = PipelineTotal.objects.filter(date__lte=organization_today()).aggregate(day=Max("date"))["day"]
    current: list[Any] = list(
        snapshots.filter(date=latest).values(
            "stage", "owner_id", "count", "total_value", "weighted_value", "computed_at"
        )
    )
    history_rows: Iterable[Any] = (
        (PipelineTotal.objects.all() if owner is None else snapshots)
        .filter(date__range=(date_from, date_to))
        .values("date", "stage", "count", "total_value", "weighted_value")
    )
    by_date: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for day_row in history_rows:
        by_date[day_row["date"]].append(day_row)

    by_owner_rows: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for row in current:
        by_owner_rows[row["owner_id"]].append(row)
    owners = _owners(by_owner_rows)
    by_owner: list[dict[str, Any]] = []
    for owner_id, rows in by_owner_rows.items():
        stages = _stage_rows(rows)
        by_owner.append(
            {"owner": owners.get(owner_id) if owner_id else None, "stages": stages, "open": _open(stages)}
        )
    by_owner.sort(
        key=lambda item: (-item["open"]["weighted_value"], item["owner"]["id"] if item["owner"] else 0)
    )
    stages = _stage_rows(current)
    history = []
    for day in sorted(by_date):
        day_stages = _stage_rows(by_date[day])
        history.append({"date": day, "stages": day_stages, "open": _open(day_stages)})
    return {
        "snapshot_date": latest,
        "as_of": max((row["computed_at"] for row in current), default=None),
        "stages": stages,
        "open": _open(stages),
        "by_owner": by_owner,
        "date_from": date_from,
        "date_to": date_to,
        "history": history,
        **_currencies(latest, owner),
    }


# ---- conversion ---------------------------------------------------------------------------------------


def _conversion(counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    steps = []
    for from_stage, to_stage in STEPS:
        exits = sum(n for (source, _), n in counts.items() if source == from_stage)
        advanced = counts.get((from_stage, to_stage), 0)
        steps.append(
            {
                "from_stage": from_stage,
                "to_stage": to_stage,
                "exits": exits,
                "advanced": advanced,
                "lost": counts.get((from_stage, Stage.LOST), 0),
                "rate": _ratio(advanced, exits),
            }
        )
    won = sum(n for (_, target), n in counts.items() if target == Stage.WON)
    lost = sum(n for (_, target), n in counts.items() if target == Stage.LOST)
    return {
        "steps": steps,
        "won": won,
        "lost": lost,
        "reopened": counts.get((Stage.LOST, Stage.NEW), 0),
        "win_rate": _ratio(won, won + lost),
    }


def conversion_report(*, date_from: date, date_to: date) -> dict[str, Any]:
    """Stage changes in the period. A step's rate is the share of the leads leaving its stage that moved
    on to the next one (the others were lost); the win rate is won / (won + lost). Overall, by source and
    by owner (the source and owner of the lead when the change was recorded)."""
    rollups, params = Period(date_from, date_to).union(
        f"""SELECT dimension, key, from_stage, to_stage, {{sign}} * count AS count
            FROM {TransitionRollup._meta.db_table}
            WHERE grain = {{grain}} AND period >= {{first}} AND period < {{after}}""",
        {},
    )
    rows = _fetch(
        f"SELECT dimension, key, from_stage, to_stage, sum(count) FROM ({rollups}) r "
        "GROUP BY 1, 2, 3, 4 HAVING sum(count) <> 0",
        params,
    )
    groups: dict[tuple[str, str], dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    overall: dict[tuple[str, str], int] = defaultdict(int)
    for dimension, key, from_stage, to_stage, count in rows:
        groups[(dimension, key)][(from_stage, to_stage)] += int(count)
        if dimension == Dimension.SOURCE:
            overall[(from_stage, to_stage)] += int(count)
    owners = _owners(_owner_key(key) for dimension, key in groups if dimension == Dimension.OWNER)
    by_source = [
        {"source": key, **_conversion(counts)}
        for (dimension, key), counts in sorted(groups.items())
        if dimension == Dimension.SOURCE
    ]
    by_owner = [
        {"owner": owners.get(_owner_key(key) or 0), **_conversion(counts)}
        for (dimension, key), counts in sorted(groups.items())
        if dimension == Dimension.OWNER
    ]
    return {
        "date_from": date_from,
        "date_to": date_to,
        "overall": _conversion(overall),
        "by_source": by_source,
        "by_owner": by_owner,
    }


# ---- durations: cycle length and time in stage ---------------------------------------------------------


def percentile(buckets: dict[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of durations counted per histogram bucket, defined like percentile_cont:
    interpolated between the two order statistics around q·(n-1). The k-th of a bucket's c durations is
    placed at (k + ½)/c of the way through the bucket (geometrically; linearly in bucket 0, which starts at
    zero), so a single duration reads as its bucket's middle: within 2^(1/16) - 1 ≈ 4.4% of the truth."""
    counted = sorted((bucket, count) for bucket, count in buckets.items() if count > 0)
    total = sum(count for _, count in counted)
    if not total:
        return None

    def order_statistic(k: int) -> float:
        seen = 0
        for bucket, count in counted:
            if k < seen + count:
                low, high = bucket_bounds(bucket)
                within = (k - seen + 0.5) / count
                return low + (high - low) * within if bucket == 0 else low * math.pow(high / low, within)
            seen += count
        raise AssertionError("k is below the total")

    position = q * (total - 1)
    below = order_statistic(math.floor(position))
    above = order_statistic(math.ceil(position))
    return below + (above - below) * (position - math.floor(position))


def _histograms(period: Period, metric: str) -> dict[str, dict[int, int]]:
    histograms, params = period.union(
        f"""SELECT key, bucket, {{sign}} * count AS count FROM {DurationHistogram._meta.db_table}
            WHERE grain = {{grain}} AND metric = %(metric)s AND period >= {{first}} AND period < {{after}}""",
        {"metric": metric},
    )
    rows = _fetch(f"SELECT key, bucket, sum(count) FROM ({histograms}) h GROUP BY 1, 2", params)
    found: dict[str, dict[int, int]] = defaultdict(dict)
    for key, bucket, count in rows:
        found[key][bucket] = int(count)
    return found


def _merged(histograms: Iterable[dict[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = defaultdict(int)
    for histogram in histograms:
        for bucket, count in histogram.items():
            merged[bucket] += count
    return merged


def _exact_percentiles(
    period: Period, column: str, seconds: str, where: str
) -> dict[str | None, tuple[float, float]]:
    """Median and p75 of `seconds` per `column` (and overall, under None) over the period's facts."""
    start, end = period.bounds()
    rows = _fetch(
        f"""SELECT {column}, percentile_cont(0.5) WITHIN GROUP (ORDER BY s),
                   percentile_cont(0.75) WITHIN GROUP (ORDER BY s), GROUPING({column})
            FROM (SELECT {column}, {seconds} AS s FROM {StageTransition._meta.db_table}
                  WHERE counted AND at >= %(start)s AND at < %(end)s AND {where}) f
            GROUP BY GROUPING SETS (({column}), ())""",
        {"start": start, "end": end},
    )
    return {(None if grouped else key): (float(p50), float(p75)) for key, p50, p75, grouped in rows}


def _sums(period: Period, group: str, where: str) -> dict[str, tuple[int, int, int]]:
    """Per `group` column of the source-dimension rollups: (count, seconds, cycle_seconds)."""
    rollups, params = period.union(
        f"""SELECT {group} AS grouped, {{sign}} * count AS count, {{sign}} * seconds AS seconds,
                   {{sign}} * cycle_seconds AS cycle_seconds
            FROM {TransitionRollup._meta.db_table}
            WHERE grain = {{grain}} AND period >= {{first}} AND period < {{after}}
              AND dimension = 'source' AND {where}""",
        {},
    )
    rows = _fetch(
        f"SELECT grouped, sum(count), sum(seconds), sum(cycle_seconds) FROM ({rollups}) r GROUP BY 1", params
    )
    return {key: (int(n), int(s), int(c)) for key, n, s, c in rows}


def cycle_length_report(*, date_from: date, date_to: date) -> dict[str, Any]:
    """Days from a lead's creation to WON, for the leads won in the period: average, median and 75th
    percentile, overall and by source."""
    period = Period(date_from, date_to)
    sums = _sums(period, "key", "to_stage = 'WON'")
    won = sum(n for n, _, _ in sums.values())
    approximate = won > EXACT_LIMIT
    quantiles: dict[str | None, tuple[float | None, float | None]] = {}
    if approximate:
        histograms = _histograms(period, Metric.CYCLE)
        for key, buckets in [*histograms.items(), (None, _merged(histograms.values()))]:
            quantiles[key] = (percentile(buckets, 0.5), percentile(buckets, 0.75))
    elif won:
        quantiles.update(
            _exact_percentiles(
                period,
                "source",
                "greatest(0, round(extract(epoch FROM at - lead_created_at)))",
                "to_stage = 'WON'",
            )
        )

    def summary(count: int, cycle_seconds: int, key: str | None) -> dict[str, Any]:
        p50, p75 = quantiles.get(key, (None, None))
        return {
            "won": count,
            "average_days": _days(cycle_seconds / count) if count else None,
            "median_days": _days(p50),
            "p75_days": _days(p75),
        }

    return {
        "date_from": date_from,
        "date_to": date_to,
        "approximate": approximate,
        "overall": summary(won, sum(c for _, _, c in sums.values()), None),
        "by_source": [
            {"source": key, **summary(n, c, key)} for key, (n, _, c) in sorted(sums.items()) if n > 0
        ],
    }


def time_in_stage_report(*, date_from: date, date_to: date) -> dict[str, Any]:
    """Days leads spent in each stage, from the stays that ended in the period (a stay starts when the
    lead enters the stage, or is created for NEW, and ends with its next STAGE_CHANGE): how many, the
    average and the median."""
    period = Period(date_from, date_to)
    sums = _sums(period, "from_stage", "true")
    exits = sum(n for n, _, _ in sums.values())
    approximate = exits > EXACT_LIMIT
    medians: dict[str | None, float | None] = {}
    if approximate:
        for key, buckets in _histograms(period, Metric.STAGE).items():
            medians[key] = percentile(buckets, 0.5)
    elif exits:
        exact = _exact_percentiles(period, "from_stage", "seconds_in_stage", "true")
        medians.update({key: p50 for key, (p50, _) in exact.items()})
    stages = []
    for stage in LEFT_STAGES:
        count, seconds, _ = sums.get(stage, (0, 0, 0))
        stages.append(
            {
                "stage": stage,
                "exits": count,
                "average_days": _days(seconds / count) if count else None,
                "median_days": _days(medians.get(stage)) if count else None,
            }
        )
    return {"date_from": date_from, "date_to": date_to, "approximate": approximate, "stages": stages}


# ---- forecast -----------------------------------------------------------------------------------------


def forecast_report(*, date_from: date, date_to: date, pipeline: int | None = None) -> dict[str, Any]:
    """Open opportunities (not closed, deleted or merged; of one pipeline when `pipeline` is given) by the
    month of their expected close date: count, amount and amount x probability (the deal's stage's as
    configured, unless set by hand: tenant_apps.analytics.deals), in the base currency at the rate in
    force on each deal's date (its expected close date, else its creation day). The period counts in
    whole months: every month it touches is listed, whole. `overdue` (expected before today, still open)
    and `undated` (no expected date) stand beside them whatever the period. Deals whose currency has no
    rate for their day are in none of these: `unconverted` lists them per currency (count and amount in
    that currency). `by_stage`: every open deal per open stage, whatever its close date."""
    today = organization_today()
    deals = Opportunity.objects.filter(
        closed_at__isnull=True, deleted_at__isnull=True, merged_into__isnull=True
    )
    if pipeline is not None:
        deals = deals.filter(pipeline_id=pipeline)
    open_deals = deals.annotate(
        record_day=Coalesce("expected_close_date", TruncDate("created_at", tzinfo=organization_zone())),
        code=Upper("currency"),
    ).annotate(rate=rate_on(currency_field="currency", on_date="record_day"))
    converted = open_deals.filter(rate__isnull=False)
    base_amount = ExpressionWrapper(F("amount") * F("rate"), output_field=DecimalField())
    weighted = deal_reports.WEIGHTED
    first_month = date(date_from.year, date_from.month, 1)
    months: dict[date, Any] = {
        row["month"]: row
        for row in converted.filter(expected_close_date__range=(first_month, date_to))
        .annotate(month=TruncMonth("expected_close_date"))
        .values("month")
        .annotate(deals=Count("id"), amount_sum=Sum(base_amount), weighted_sum=Sum(weighted))
    }
    edges = converted.aggregate(
        overdue_count=Count("id", filter=Q(expected_close_date__lt=today)),
        overdue_amount=Sum(base_amount, filter=Q(expected_close_date__lt=today)),
        overdue_weighted=Sum(weighted, filter=Q(expected_close_date__lt=today)),
        undated_count=Count("id", filter=Q(expected_close_date__isnull=True)),
        undated_amount=Sum(base_amount, filter=Q(expected_close_date__isnull=True)),
        undated_weighted=Sum(weighted, filter=Q(expected_close_date__isnull=True)),
    )
    currencies: Iterable[Any] = (
        open_deals.values("code")
        .annotate(
            deals=Count("id"),
            amount_sum=Sum("amount"),
            base_sum=Sum(base_amount),
            unconverted_deals=Count("id", filter=Q(rate__isnull=True)),
            unconverted_sum=Sum("amount", filter=Q(rate__isnull=True)),
        )
        .order_by("code")
    )

    def bucket(count: int, amount: Any, weighted_sum: Any) -> dict[str, Any]:
        return {
            "count": count or 0,
            "amount": _money(amount),
            "weighted_amount": _money(Decimal(weighted_sum or 0) / 100),
        }

    rows = []
    month = first_month
    while month <= date_to:
        found: dict[str, Any] = months.get(month, {})
        rows.append(
            {
                "month": month.strftime("%Y-%m"),
                **bucket(found.get("deals", 0), found.get("amount_sum"), found.get("weighted_sum")),
            }
        )
        month = _next_month(month)
    currency_rows = list(currencies)
    return {
        "date_from": date_from,
        "date_to": date_to,
        "base_currency": base_currency(),
        "months": rows,
        "total": {
            "count": sum(row["count"] for row in rows),
            "amount": sum((row["amount"] for row in rows), ZERO),
            "weighted_amount": sum((row["weighted_amount"] for row in rows), ZERO),
        },
        "overdue": bucket(edges["overdue_count"], edges["overdue_amount"], edges["overdue_weighted"]),
        "undated": bucket(edges["undated_count"], edges["undated_amount"], edges["undated_weighted"]),
        "by_currency": [
            {
                "currency": row["code"],
                "count": row["deals"],
                "amount": _money(row["amount_sum"]),
                "base_amount": _money(row["base_sum"]),
            }
            for row in currency_rows
        ],
        "unconverted": [
            {
                "currency": row["code"],
                "count": row["unconverted_deals"],
                "amount": _money(row["unconverted_sum"]),
            }
            for row in currency_rows
            if row["unconverted_deals"]
        ],
        "pipeline": pipeline,
        "by_stage": _forecast_stages(pipeline),
    }


def _forecast_stages(pipeline: int | None) -> list[dict[str, Any]]:
    """The open deals per open stage (of every pipeline, or of the one asked for), weighted by it."""
    stages = PipelineStage.objects.filter(is_won=False, is_lost=False).select_related("pipeline")
    if pipeline is not None:
        stages = stages.filter(pipeline_id=pipeline)
    figures = deal_reports.stage_figures(None)
    rows = []
    for stage in stages.order_by("pipeline__position", "pipeline_id", "position", "id"):
        found = figures.get(stage.pk, {})
        rows.append(
            {
                "pipeline_id": stage.pipeline_id,
                "stage_id": stage.pk,
                "name": stage.name,
                "probability": stage.probability,
                "count": found.get("count", 0),
                "amount": found.get("amount", ZERO),
                "weighted_amount": found.get("weighted_amount", ZERO),
            }
        )
    return rows
