"""Pre-aggregated analytics: dashboards read these tables, never a scan of every lead or activity.

Three layers, each derived from the one below and rebuildable from it:

- `StageTransition`: one fact per STAGE_CHANGE activity (ingested incrementally, see services), with what
  the reports need already joined in: the lead's source and owner, its creation time, and how long the lead
  stayed in the stage it left.
- `TransitionRollup` and `DurationHistogram`: the facts summed per day and per month, by source and by owner
  (counts and seconds), and bucketed durations for medians and percentiles. A report over any date range
  reads whole months plus the odd days at its edges: a few thousand rows whatever the organization's size.
- `PipelineSnapshot` / `PipelineTotal`: the pipeline (count, value, weighted value) per day, stage and owner,
  and per day and stage; today's rows are "the current pipeline".

Owners are plain ids (no foreign key): rows describe the past, and members are deactivated, never deleted.
"""

from __future__ import annotations

import math

from django.db import models
from django.db.models import Q

from tenant_apps.leads.models import Stage

# Probability of closing, in percent, by stage: the weight of a lead's value in the weighted pipeline.
STAGE_WEIGHTS: dict[str, int] = {
    Stage.NEW: 5,
    Stage.CONTACTED: 10,
    Stage.QUALIFIED: 25,
    Stage.PROPOSAL: 50,
    Stage.NEGOTIATION: 75,
    Stage.WON: 100,
    Stage.LOST: 0,
}


# Histogram buckets grow geometrically: bucket 0 is [0, 60 s), bucket b >= 1 is [60·g^(b-1), 60·g^b).
# With g = 2^(1/8) a percentile read from a bucket is within ~4.5% of the truth.
BUCKET_BASE_SECONDS = 60
BUCKET_GROWTH = 2 ** (1 / 8)


def bucket_of(seconds: float) -> int:
    """The histogram bucket of a duration (services computes the same in SQL)."""
    if seconds < BUCKET_BASE_SECONDS:
        return 0
    return math.floor(math.log(seconds / BUCKET_BASE_SECONDS) / math.log(BUCKET_GROWTH)) + 1


def bucket_bounds(bucket: int) -> tuple[float, float]:
    if bucket <= 0:
        return 0.0, float(BUCKET_BASE_SECONDS)
    return BUCKET_BASE_SECONDS * BUCKET_GROWTH ** (bucket - 1), BUCKET_BASE_SECONDS * BUCKET_GROWTH**bucket


class Grain(models.TextChoices):
    DAY = "d", "Day"
    MONTH = "m", "Month"


class Dimension(models.TextChoices):
    SOURCE = "source", "Source"
    OWNER = "owner", "Owner"


class Metric(models.TextChoices):
    # seconds a lead spent in `from_stage` before leaving it; key = that stage
    STAGE = "stage", "Time in stage"
    # seconds from the lead's creation to WON; key = the lead's source
    CYCLE = "cycle", "Cycle length"


class AnalyticsState(models.Model):
    """The organization's single bookkeeping row (id 1)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    # Every STAGE_CHANGE activity with an id at or below this one has been ingested (see services).
    activity_watermark = models.BigIntegerField(default=0)
    ingested_at = models.DateTimeField(null=True, blank=True)
    snapshot_refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="analytics_state_single_row")]

    def __str__(self) -> str:
        return f"analytics state (watermark {self.activity_watermark})"


class StageTransition(models.Model):
    """One stage change of a lead, from its STAGE_CHANGE activity (whose id is this row's key).

    `counted` is false while the lead is deleted (or its activity gone): the fact then adds nothing to the
    rollups, and counts again if the lead is restored."""

    activity_id = models.BigIntegerField(primary_key=True)
    lead_id = models.BigIntegerField()
    from_stage = models.CharField(max_length=16)
    to_stage = models.CharField(max_length=16)
    at = models.DateTimeField()
    # the lead's source and owner when the change was ingested (moments after it happened)
    source = models.CharField(max_length=16)
    owner_id = models.BigIntegerField(null=True, blank=True)
    lead_created_at = models.DateTimeField()
    seconds_in_stage = models.BigIntegerField()
    counted = models.BooleanField(default=True)

    class Meta:
        indexes = [
            # a lead's previous change (time in stage) and reconciling a lead's facts
            models.Index(fields=["lead_id", "at"], name="analytics_fact_lead_idx"),
            # exact percentiles over a small date range: every change, and the wins (cycle length)
            models.Index(fields=["at"], name="analytics_fact_at_idx", condition=Q(counted=True)),
            models.Index(
                fields=["at"], name="analytics_fact_won_idx", condition=Q(counted=True, to_stage=Stage.WON)
            ),
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.from_stage} -> {self.to_stage} at {self.at}"


class TransitionRollup(models.Model):
    """Counted transitions per period (a day, or a month starting on `period`), by source or by owner.

    `key` is the source, or the owner id as text ("" for no owner). Every transition is in both
    dimensions, so either one summed over its keys gives the overall figures."""

    grain = models.CharField(max_length=1, choices=Grain.choices)
    period = models.DateField()
    dimension = models.CharField(max_length=8, choices=Dimension.choices)
    key = models.CharField(max_length=24)
    from_stage = models.CharField(max_length=16)
    to_stage = models.CharField(max_length=16)
    count = models.BigIntegerField(default=0)
    seconds = models.BigIntegerField(default=0)  # sum of seconds_in_stage
    cycle_seconds = models.BigIntegerField(default=0)  # sum of seconds from the lead's creation

    class Meta:
        constraints = [
            models.UniqueConstraint(
                # period before dimension: every report reads a period range, not always one dimension;
                # the sums ride along so that reports are index-only scans
                fields=["grain", "period", "dimension", "key", "from_stage", "to_stage"],
                include=["count", "seconds", "cycle_seconds"],
                name="analytics_rollup_covering_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.period} {self.dimension}={self.key} {self.from_stage}->{self.to_stage}"


class DurationHistogram(models.Model):
    """How many durations fell in each geometric bucket (see services.bucket_of), per period and key."""

    grain = models.CharField(max_length=1, choices=Grain.choices)
    period = models.DateField()
    metric = models.CharField(max_length=8, choices=Metric.choices)
    key = models.CharField(max_length=24)
    bucket = models.SmallIntegerField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "metric", "period", "key", "bucket"],
                include=["count"],  # reports are index-only scans
                name="analytics_histogram_covering_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.period} {self.metric} {self.key} #{self.bucket}: {self.count}"


class PipelineSnapshot(models.Model):
    """The live leads at the end of `date` (today: as of `computed_at`) in one stage and one owner's
    hands (no owner: null, a key like any other)."""

    date = models.DateField()
    stage = models.CharField(max_length=16, choices=Stage.choices)
    owner_id = models.BigIntegerField(null=True, blank=True)
    count = models.BigIntegerField()
    total_value = models.DecimalField(max_digits=20, decimal_places=2)
    weighted_value = models.DecimalField(max_digits=20, decimal_places=2)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["date", "stage", "owner_id"],
                nulls_distinct=False,
                name="analytics_snapshot_key",
            )
        ]
        indexes = [models.Index(fields=["owner_id", "date"], name="analytics_snapshot_owner_idx")]

    def __str__(self) -> str:
        return f"{self.date} {self.stage} owner {self.owner_id}: {self.count}"


class PipelineTotal(models.Model):
    """PipelineSnapshot summed over owners: what the history of the whole pipeline reads."""

    date = models.DateField()
    stage = models.CharField(max_length=16, choices=Stage.choices)
    count = models.BigIntegerField()
    total_value = models.DecimalField(max_digits=20, decimal_places=2)
    weighted_value = models.DecimalField(max_digits=20, decimal_places=2)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["date", "stage"], name="analytics_total_key")]

    def __str__(self) -> str:
        return f"{self.date} {self.stage}: {self.count}"


class PipelineCurrency(models.Model):
    """The open leads of one owner in one currency at the end of `date` (today's snapshot only): their
    amount in that currency, in the base currency (`base_value`, the leads with a rate for their day), and
    how many have no such rate (`unconverted_count`, `unconverted_value`: in no total)."""

    date = models.DateField()
    owner_id = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    count = models.BigIntegerField()
    value = models.DecimalField(max_digits=20, decimal_places=2)
    base_value = models.DecimalField(max_digits=20, decimal_places=2)
    unconverted_count = models.BigIntegerField()
    unconverted_value = models.DecimalField(max_digits=20, decimal_places=2)

    class Meta:
        indexes = [models.Index(fields=["date"], name="analytics_currency_date_idx")]

    def __str__(self) -> str:
        return f"{self.date} {self.currency} owner {self.owner_id}: {self.count}"


class DealStageSnapshot(models.Model):
    """The live open and closed deals at the end of `date` in one stage of one pipeline (as configured
    that day: ids, with the stage's name then), amounts in the base currency at each deal's day's rate
    (deals without a rate are counted, not summed) and weighted by the stage's probability."""

    date = models.DateField()
    pipeline_id = models.BigIntegerField()
    stage_id = models.BigIntegerField()
    stage_name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(default=0)
    count = models.BigIntegerField()
    amount = models.DecimalField(max_digits=20, decimal_places=2)
    weighted_amount = models.DecimalField(max_digits=20, decimal_places=2)
    unconverted_count = models.BigIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["date", "stage_id"], name="analytics_deal_snapshot_key")
        ]
        indexes = [models.Index(fields=["pipeline_id", "date"], name="analytics_deal_snapshot_idx")]

    def __str__(self) -> str:
        return f"{self.date} stage {self.stage_id}: {self.count}"
