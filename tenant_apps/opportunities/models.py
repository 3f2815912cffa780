from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from shared_apps.core.search import folded, record_vector
from tenant_apps.records.models import CustomerRecord, ordering_indexes, prefix_indexes


class OpportunityStage(models.TextChoices):
    QUALIFICATION = "QUALIFICATION", "Qualification"
    DISCOVERY = "DISCOVERY", "Discovery"
    PROPOSAL = "PROPOSAL", "Proposal"
    NEGOTIATION = "NEGOTIATION", "Negotiation"
    CLOSED_WON = "CLOSED_WON", "Closed won"
    CLOSED_LOST = "CLOSED_LOST", "Closed lost"


CLOSED_STAGES = (OpportunityStage.CLOSED_WON, OpportunityStage.CLOSED_LOST)
CENT = Decimal("0.01")

# Default win probability per stage, used when none is given.
STAGE_PROBABILITY = {
    OpportunityStage.QUALIFICATION: 10,
    OpportunityStage.DISCOVERY: 25,
    OpportunityStage.PROPOSAL: 50,
    OpportunityStage.NEGOTIATION: 75,
    OpportunityStage.CLOSED_WON: 100,
    OpportunityStage.CLOSED_LOST: 0,
}


DEFAULT_PIPELINE_NAME = "Sales"


class Pipeline(models.Model):
    """A deal pipeline: ordered stages a deal moves through. One is the default (new deals, conversions,
    and the old `stage` enum values of the API all mean the default pipeline)."""

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("position", "id")
        constraints = [
            models.UniqueConstraint(fields=["name"], name="pipeline_name_unique"),
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="pipeline_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PipelineStage(models.Model):
    """A stage of one pipeline. `key` never changes (the old enum value for the default pipeline's first
    stages, a slug of the first name otherwise): history and the `stage` field of the API name it, while
    `name`, `position` and `probability` may change at any time."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    key = models.CharField(max_length=64)
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    is_won = models.BooleanField(default=False)
    is_lost = models.BooleanField(default=False)
    rotting_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("pipeline_id", "position", "id")
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "key"], name="pipeline_stage_key_unique"),
            models.CheckConstraint(
                condition=~Q(is_won=True, is_lost=True), name="pipeline_stage_not_won_and_lost"
            ),
            models.CheckConstraint(condition=Q(probability__lte=100), name="pipeline_stage_probability_max"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost


class LostReason(models.Model):
    """A reason a deal can be lost for, chosen when a deal moves to a lost stage."""

    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("position", "id")
        constraints = [models.UniqueConstraint(fields=["name"], name="lost_reason_name_unique")]

    def __str__(self) -> str:
        return self.name


class LeadStageLabel(models.Model):
    """An organization's own label for one lead stage. The stage machine (tenant_apps.leads.models) is
    fixed; only what members read changes. A stage without a row shows its built-in label."""

    stage = models.CharField(max_length=16, unique=True)
    label = models.CharField(max_length=50)

    def __str__(self) -> str:
        return f"{self.stage}: {self.label}"


class Opportunity(CustomerRecord):
    """A deal with an account."""

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="opportunities", db_index=False
    )
    primary_contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    name = models.CharField(max_length=200)
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(max_length=3, default="USD")
    # The pipeline and its stage are the truth; `stage` repeats the stage's immutable key so that filters,
    # segments and imports written against the old enum keep working (opportunity_transition keeps it).
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="opportunities")
    pipeline_stage = models.ForeignKey(
        PipelineStage, on_delete=models.PROTECT, related_name="opportunities", db_index=False
    )
    stage = models.CharField(max_length=64, default=OpportunityStage.QUALIFICATION)
    lost_reason = models.ForeignKey(
        LostReason, null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    probability = models.PositiveSmallIntegerField(default=10, validators=[MaxValueValidator(100)])
    expected_close_date = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=1000, blank=True, default="")
    source_lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    search_vector = models.GeneratedField(
        expression=record_vector(A=["name"], B=["close_reason"]),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        verbose_name_plural = "opportunities"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="opportunity_amount_not_negative"),
            models.CheckConstraint(condition=Q(probability__lte=100), name="opportunity_probability_max_100"),
        ]
        indexes = [
            models.Index(fields=["account", "-created_at"], name="opportunity_account_idx"),
            models.Index(fields=["owner", "stage"], name="opportunity_owner_stage_idx"),
            models.Index(fields=["pipeline_stage", "-created_at"], name="opportunity_pipeline_stage_idx"),
            # "high-value opportunities closing this quarter": open deals by close date, then amount
            models.Index(
                fields=["expected_close_date", "-amount"],
                name="opportunity_open_close_idx",
                condition=Q(closed_at__isnull=True, deleted_at__isnull=True),
            ),
            models.Index(
                fields=["-created_at", "-id"],
                name="opportunity_alive_created_idx",
                condition=Q(deleted_at__isnull=True, merged_into__isnull=True),
            ),
            GinIndex(fields=["tags"], name="opportunity_tags_gin"),
            GinIndex(fields=["search_vector"], name="opportun_search_gin"),
            GinIndex(OpClass(folded("name"), name="gin_trgm_ops"), name="opportun_name_trgm"),
            # every ?ordering= the list offers (the default, -created_at, has its index above)
            *ordering_indexes("opportunity", ("updated_at", "name", "amount", "probability")),
            *prefix_indexes("opportun", whole=("name",)),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A row written without its pipeline stage (fixtures, scripts written against the old enum) goes
        on the default pipeline's stage of its `stage` key; the services always set both."""
        if self.pipeline_stage_id is None:
            from tenant_apps.opportunities.pipelines import default_pipeline

            pipeline = default_pipeline() if self.pipeline_id is None else self.pipeline
            stages = pipeline.stages.order_by("position", "id")
            stage = (
                stages.filter(key=self.stage).first() or stages.filter(is_won=False, is_lost=False).first()
            )
            if stage is not None:
                self.pipeline, self.pipeline_stage, self.stage = pipeline, stage, stage.key
        super().save(*args, **kwargs)

    @property
    def is_closed(self) -> bool:
        """Closed deals (a won or lost stage of any pipeline) have closed_at; closed stages are final."""
        return self.closed_at is not None

    @property
    def weighted_amount(self) -> Decimal:
        """amount x probability, in the deal's currency: what the forecast report adds up."""
        return (self.amount * self.probability / 100).quantize(CENT, rounding=ROUND_HALF_UP)
