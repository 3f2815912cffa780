"""Outgoing webhooks: endpoints, the transactional outbox of events for them, deliveries and their log.

An OutboxEvent row is written in the same transaction as the change it describes, so a committed change
always has its event and a rolled-back change never does. A job then creates one Delivery per endpoint
subscribed to the event (once: `dispatched_at`) and POSTs it; each POST is one DeliveryAttempt row.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

# The event types an endpoint may subscribe to (the public contract; see docs/webhooks.md).
RECORD_EVENTS: dict[str, tuple[str, ...]] = {
    "lead": (
        "created",
        "updated",
        "stage_changed",
        "owner_changed",
        "converted",
        "merged",
        "deleted",
        "restored",
        "purged",
    ),
    "contact": ("created", "updated", "owner_changed", "merged", "deleted", "restored"),
    "account": ("created", "updated", "owner_changed", "status_changed", "merged", "deleted", "restored"),
    "opportunity": ("created", "updated", "owner_changed", "stage_changed", "deleted", "restored"),
    "task": ("created", "updated", "completed", "cancelled", "reopened", "due"),
    "activity": ("created",),
    # a rule's "send webhook" action (tenant_apps.automation): the record is the lead the rule ran on
    "rule": ("webhook",),
}
EVENT_TYPES: frozenset[str] = frozenset(
    f"{namespace}.{verb}" for namespace, verbs in RECORD_EVENTS.items() for verb in verbs
)
WILDCARD = "*"


def pattern_is_known(pattern: str) -> bool:
    """An exact event type, a namespace wildcard ("lead.*") or "*" (everything)."""
    if pattern == WILDCARD or pattern in EVENT_TYPES:
        return True
    return pattern.endswith(".*") and pattern[:-2] in RECORD_EVENTS


def pattern_matches(pattern: str, event_type: str) -> bool:
    if pattern in (WILDCARD, event_type):
        return True
    return pattern.endswith(".*") and event_type.startswith(pattern[:-1])


def matches_any(patterns: list[str] | tuple[str, ...], event_type: str) -> bool:
    return any(pattern_matches(pattern, event_type) for pattern in patterns)


class Endpoint(models.Model):
    """A URL of the organization's that receives the events it subscribed to, signed with its secret.

    Disabled (is_active False) by hand or after a delivery failed for about a day: a disabled endpoint
    gets no new deliveries until enabled again."""

    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    event_types = ArrayField(models.CharField(max_length=64), default=list)
    # Needed in clear to sign (HMAC); shown once, at creation, and never returned by the API afterwards.
    secret = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["-created_at", "-id"], name="webhook_endpoint_created_idx")]

    def __str__(self) -> str:
        return self.url

    def subscribes_to(self, event_type: str) -> bool:
        return matches_any(self.event_types, event_type)


class OutboxEvent(models.Model):
    """One event to deliver, written inside the transaction of the change. `id` is the event id receivers
    dedupe on; `payload` is the JSON body sent (the same bytes on every attempt)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    topic = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    # Set once the deliveries for the endpoints subscribed at that time exist.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="webhook_outbox_created_idx"),
            # the sweep's "committed but never dispatched" (the job was lost)
            models.Index(
                fields=["created_at"],
                name="webhook_outbox_pending_idx",
                condition=Q(dispatched_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its (next) attempt at next_attempt_at
    SENDING = "sending", "Sending"  # claimed by a worker until lease_expires_at
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # given up; an admin may redeliver


class Delivery(models.Model):
    """One event to one endpoint: at most one row per pair, so a success is recorded once."""

    # no single-column indexes: the log index leads with endpoint, the unique constraint with event
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event = models.ForeignKey(
        OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)  # every attempt ever made (numbers the log)
    failures = models.PositiveIntegerField(default=0)  # failed attempts since the last (re)delivery request
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once"),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="webhook_status_known"
            ),
        ]
        indexes = [
            # the endpoint's delivery log, newest first
            models.Index(fields=["endpoint", "-created_at", "-id"], name="webhook_delivery_log_idx"),
            # the sweep: due retries, and claims whose worker died
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="webhook_delivery_lease_idx",
                condition=Q(status="sending"),
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.status})"


class AttemptOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed, not retried"
    ABANDONED = "abandoned", "Outcome unknown (the worker stopped mid-delivery)"


class DeliveryAttempt(models.Model):
    """One POST: written when claimed (outcome empty while in flight) and completed with its result."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log", db_index=False)
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, blank=True, default="")
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, default="")  # at most 1 kB of the response body
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number_once")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
