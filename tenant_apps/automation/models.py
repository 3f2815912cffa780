"""Automation: rules (trigger, conditions, actions) with their run log, lead routing and lead scoring.

Rules, routing and scoring are data of the organization; what they may contain is checked on save against
the whitelists in triggers.py, actions.py and the filter language (tenant_apps/filtering, for conditions),
never trusted as code or column names.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TriggerType(models.TextChoices):
    LEAD_CREATED = "lead_created", "Lead created"
    STAGE_ENTERED = "stage_entered", "Stage entered"
    FIELD_CHANGED = "field_changed", "Field changed"
    IDLE = "idle", "Idle for N days"
    TASK_OVERDUE = "task_overdue", "Task overdue"


class Match(models.TextChoices):
    ALL = "all", "All conditions"
    ANY = "any", "Any condition"


class Rule(models.Model):
    """When `trigger` happens to a lead whose current state meets `conditions`, run `actions` in order.

    trigger: {"type": ..., params}; conditions: [{"field", "op", "value"}]; actions: [{"type", params}]."""

    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    trigger_type = models.CharField(max_length=32, choices=TriggerType.choices)
    trigger = models.JSONField(default=dict)
    match = models.CharField(max_length=3, choices=Match.choices, default=Match.ALL)
    conditions = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Soft delete: the run log of a deleted rule stays readable.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # the evaluator's one lookup: active rules for an event's trigger types
            models.Index(
                fields=["trigger_type", "id"],
                name="rule_active_trigger_idx",
                condition=Q(active=True, deleted_at__isnull=True),
            ),
            models.Index(
                fields=["-created_at", "-id"],
                name="rule_alive_created_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            # ?ordering=name
            models.Index(
                fields=["name", "id"], name="rule_alive_name_idx", condition=Q(deleted_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    DONE = "done", "Done"
    FAILED = "failed", "Failed (nothing applied)"
    LOOP_STOPPED = "loop_stopped", "Stopped at the depth limit"


class RuleRun(models.Model):
    """One rule applied to one event: the idempotency key (a rule runs at most once per event, however
    often rq delivers the job) and the audit of what it did. Written only when trigger and conditions
    matched; inserted in the same transaction as the actions, so a crash leaves neither."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    # Like LeadScore and RoutingAssignment: a merge leaves the row with the merged lead (its history; see
    # dedupe's `stays`), a purge deletes it with the lead.
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="+", db_index=False)
    # The overdue task, for task_overdue runs.
    task_id = models.BigIntegerField(null=True, blank=True)
    event_key = models.CharField(max_length=120)
    topic = models.CharField(max_length=50)
    depth = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    error = models.TextField(blank=True, default="")
    # What each action did (type, outcome, details), in order.
    results = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "event_key"], name="rulerun_once_per_event"),
        ]
        indexes = [
            models.Index(fields=["rule", "-created_at", "-id"], name="rulerun_rule_created_idx"),
            # "did this idle rule already fire for this lead since ...?"
            models.Index(fields=["rule", "lead", "created_at"], name="rulerun_rule_lead_idx"),
            # a purge's cascade finds the lead's runs
            models.Index(fields=["lead"], name="rulerun_lead_idx"),
            models.Index(
                fields=["rule", "task_id", "created_at"],
                name="rulerun_rule_task_idx",
                condition=Q(task_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"rule {self.rule_id} on lead {self.lead_id}: {self.status}"


class RoutingStrategy(models.TextChoices):
    OFF = "off", "Off"
    ROUND_ROBIN = "round_robin", "Round-robin"
    TERRITORY = "territory", "Territory (round-robin when none matches)"


class RoutingState(models.Model):
    """The organization's routing settings and round-robin position: one row (id 1), locked while a lead
    takes the next member, so concurrent creations spread evenly."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    strategy = models.CharField(max_length=16, choices=RoutingStrategy.choices, default=RoutingStrategy.OFF)
    # Member ids in round-robin order.
    members = ArrayField(models.BigIntegerField(), default=list, blank=True)
    # How many leads round-robin has assigned: the next one goes to members[next_index % len(members)].
    next_index = models.PositiveBigIntegerField(default=0)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="routingstate_single_row")]

    def __str__(self) -> str:
        return f"routing: {self.strategy}"


class TerritoryKind(models.TextChoices):
    SOURCE = "source", "Lead source"
    # Leads have no address: country and region are read from tags "country:<code>" and "region:<name>".
    COUNTRY = "country", "Country (tag country:<code>)"
    REGION = "region", "Region (tag region:<name>)"


class RoutingRule(models.Model):
    """A territory: leads matching kind = value go to `member`. The first match by position wins."""

    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=16, choices=TerritoryKind.choices)
    value = models.CharField(max_length=50)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["position"], name="routingrule_position_unique")]

    def __str__(self) -> str:
        return f"{self.kind}={self.value} -> {self.member_id}"


class RoutingAssignment(models.Model):
    """A lead routed once: the idempotency key of routing (a redelivered job routes nobody twice) and the
    record of why the lead went to whom."""

    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, primary_key=True, related_name="+")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    method = models.CharField(max_length=16)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"lead {self.lead_id} -> {self.member_id} ({self.method})"


class ScoringKind(models.TextChoices):
    FIELD = "field", "Field value"
    ACTIVITY_COUNT = "activity_count", "Points per activity"
    RECENCY = "recency", "Recent activity"


class ScoringRule(models.Model):
    """Points for a lead. field: `points` when `condition` holds; activity_count: `points` per activity of
    `activity_type` (within `within_days` when set), capped at `max_points`; recency: `points` when the
    lead had such an activity within `within_days`. An empty activity_type means any contact (email,
    call, meeting, note)."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=ScoringKind.choices)
    active = models.BooleanField(default=True)
    condition = models.JSONField(default=dict, blank=True)
    activity_type = models.CharField(max_length=16, blank=True, default="")
    within_days = models.PositiveIntegerField(null=True, blank=True)
    points = models.IntegerField()
    max_points = models.IntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class LeadScore(models.Model):
    """A lead's last computed score and how it was made up (one entry per active scoring rule)."""

    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, primary_key=True, related_name="+")
    score = models.IntegerField(default=0)
    breakdown = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["computed_at"], name="leadscore_computed_idx")]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.score}"
