from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from shared_apps.core.search import folded, record_vector
from tenant_apps.records.models import CustomerRecord, ordering_indexes


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
    stage = models.CharField(
        max_length=16, choices=OpportunityStage.choices, default=OpportunityStage.QUALIFICATION
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
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.stage in CLOSED_STAGES

    @property
    def weighted_amount(self) -> Decimal:
        """amount x probability, in the deal's currency: what the forecast report adds up."""
        return (self.amount * self.probability / 100).quantize(CENT, rounding=ROUND_HALF_UP)
