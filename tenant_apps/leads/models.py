from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from shared_apps.core.search import folded, record_vector
from tenant_apps.records.models import AliveQuerySet, CustomerRecord, ordering_indexes, prefix_indexes


class Stage(models.TextChoices):
    NEW = "NEW", "New"
    CONTACTED = "CONTACTED", "Contacted"
    QUALIFIED = "QUALIFIED", "Qualified"
    PROPOSAL = "PROPOSAL", "Proposal"
    NEGOTIATION = "NEGOTIATION", "Negotiation"
    WON = "WON", "Won"
    LOST = "LOST", "Lost"


# The pipeline: the only stage changes there are. WON is final; LOST may be re-opened.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Stage.NEW: (Stage.CONTACTED, Stage.LOST),
    Stage.CONTACTED: (Stage.QUALIFIED, Stage.LOST),
    Stage.QUALIFIED: (Stage.PROPOSAL, Stage.LOST),
    Stage.PROPOSAL: (Stage.NEGOTIATION, Stage.LOST),
    Stage.NEGOTIATION: (Stage.WON, Stage.LOST),
    Stage.WON: (),
    Stage.LOST: (Stage.NEW,),
}
OPEN_STAGES = (Stage.NEW, Stage.CONTACTED, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION)
# A lead converted while open has left the lead pipeline: its money is its deal's now (counted once, there).
# Every "open leads" count, list and rule reads IN_OPEN_PIPELINE, not the stage alone.
CONVERTED_WHILE_OPEN = Q(converted_at__isnull=False, stage__in=OPEN_STAGES)
IN_OPEN_PIPELINE = Q(stage__in=OPEN_STAGES, converted_at__isnull=True)


class LeadStatus(models.TextChoices):
    """Where a lead stands, derived (never stored): its stage says how far it got, and a converted lead
    keeps the stage it was converted in (the pipeline has no stage for it: conversion is not a move)."""

    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    CONVERTED = "converted", "Converted"


def status_q(statuses: list[str]) -> Q:
    """Leads in any of `statuses` (LeadStatus values)."""
    conditions = {
        LeadStatus.OPEN: IN_OPEN_PIPELINE,
        LeadStatus.WON: Q(stage=Stage.WON, converted_at__isnull=True),
        LeadStatus.LOST: Q(stage=Stage.LOST, converted_at__isnull=True),
        LeadStatus.CONVERTED: Q(converted_at__isnull=False),
    }
    found = Q(pk__in=[])
    for status in statuses:
        found |= conditions[LeadStatus(status)]
    return found


class Source(models.TextChoices):
    WEB = "web", "Web"
    REFERRAL = "referral", "Referral"
    ADS = "ads", "Ads"
    EVENT = "event", "Event"
    OUTBOUND = "outbound", "Outbound"
    IMPORT = "import", "Import"
    OTHER = "other", "Other"


class Lead(CustomerRecord):
    """A customer record like the others (owner, tags, timestamps, soft delete, merge tombstone), with the
    pipeline stage, its value and its conversion."""

    name = models.CharField(max_length=200)
    email = models.CharField(max_length=254, blank=True, default="")
    phone = models.CharField(max_length=40, blank=True, default="")
    phone_normalized = models.CharField(max_length=20, blank=True, default="", editable=False)
    company = models.CharField(max_length=200, blank=True, default="")
    # normalized company + name: the third duplicate-detection key
    identity_key = models.CharField(max_length=420, blank=True, default="", editable=False)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.OTHER)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.NEW)
    value = models.DecimalField(max_digits=12, decimal_places=2, default=0, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="USD")
    # no single-column index: (owner, stage) serves lookups by owner alone too; `member.leads` reaches them
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        db_index=False,
    )
    score = models.IntegerField(default=0)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    last_contacted_at = models.DateTimeField(null=True, blank=True)
    # Conversion (once) into an account, a contact and optionally an opportunity.
    converted_at = models.DateTimeField(null=True, blank=True)
    converted_account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="converted_leads"
    )
    converted_contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    converted_opportunity = models.ForeignKey(
        "opportunities.Opportunity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Full-text search: name first, then company and email. Kept by PostgreSQL itself (a generated column).
    search_vector = models.GeneratedField(
        expression=record_vector(A=["name"], B=["company", "email"]),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="lead_value_not_negative"),
            models.CheckConstraint(condition=Q(stage__in=Stage.values), name="lead_stage_known"),
        ]
        indexes = [
            # a rep's pipeline: "my open leads by stage"
            models.Index(fields=["owner", "stage"], name="lead_owner_stage_idx"),
            # the board and stage reports: "leads in PROPOSAL, newest first"
            models.Index(fields=["stage", "created_at"], name="lead_stage_created_idx"),
            # follow-up: "not contacted since ..."
            models.Index(fields=["last_contacted_at"], name="lead_last_contacted_idx"),
            # the default list: live leads, newest first (cursor pagination on created_at, id)
            models.Index(
                fields=["-created_at", "-id"],
                name="lead_alive_created_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            # duplicate detection on create
            models.Index(fields=["email"], name="lead_email_idx", condition=~Q(email="")),
            models.Index(
                fields=["phone_normalized"], name="lead_phone_idx", condition=~Q(phone_normalized="")
            ),
            models.Index(fields=["identity_key"], name="lead_identity_idx", condition=~Q(identity_key="")),
            GinIndex(fields=["tags"], name="lead_tags_gin"),
            GinIndex(fields=["search_vector"], name="lead_search_gin"),
            # fuzzy duplicate detection on names (tenant_apps.dedupe, pg_trgm `%`); search corrects
            # misspellings against its vocabulary instead. No trigram index on the email or the company: no
            # query reads one (a company alike only adds to a candidate's score: colleagues are not
            # duplicates), and each cost every lead write (an import's index maintenance is its ceiling).
            GinIndex(OpClass(folded("name"), name="gin_trgm_ops"), name="lead_name_trgm"),
            # the board's columns: a stage's latest moved live leads first (read backwards, LIMIT 21), so a
            # column's first cards and each "load more" are a short index range, never a sort of the stage
            models.Index(
                fields=["stage", "stage_changed_at", "id"],
                name="lead_board_column_idx",
                condition=Q(deleted_at__isnull=True, merged_into__isnull=True),
            ),
            # every ?ordering= the list offers (the default, -created_at, has its index above)
            *ordering_indexes("lead", ("updated_at", "stage_changed_at", "value", "score", "name")),
            *prefix_indexes("lead", person="name", whole=("company",)),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        if self.converted_at is not None:
            return LeadStatus.CONVERTED
        if self.stage in (Stage.WON, Stage.LOST):
            return LeadStatus.WON if self.stage == Stage.WON else LeadStatus.LOST
        return LeadStatus.OPEN

    def allowed_stages(self) -> tuple[str, ...]:
        """None once converted: its deal carries the sale on (a move to WON would count its money twice)."""
        return () if self.converted_at is not None else TRANSITIONS[self.stage]

    def can_transition_to(self, stage: str) -> bool:
        return stage in self.allowed_stages()

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


# what Lead.objects returns (alive() included), under the name the lead selectors use
LeadQuerySet = AliveQuerySet[Lead]
