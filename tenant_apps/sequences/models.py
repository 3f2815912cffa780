from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

MAX_STEPS = 20
MAX_DELAY_DAYS = 365


class SequenceQuerySet(models.QuerySet["Sequence"]):
    def alive(self) -> SequenceQuerySet:
        return self.filter(deleted_at__isnull=True)


class Sequence(models.Model):
    """Ordered email steps a lead is enrolled in. Deleting one is soft: its enrollments' history stays."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = SequenceQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["-created_at", "-id"], name="sequence_alive_created_idx", condition=Q(deleted_at=None)
            ),
            # the list's other orderings, as the cursor pages (the field, then the id)
            *(
                models.Index(
                    fields=[field, "id"], name=f"sequence_by_{field}_idx", condition=Q(deleted_at=None)
                )
                for field in ("updated_at", "name")
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SequenceStep(models.Model):
    """One email of a sequence: templates for its subject and body, sent `delay` after the previous step
    (the first: after enrollment). Steps are identified by position; editing a sequence rewrites them in
    place, so enrollments keep their place."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()  # 1, 2, ...
    subject = models.CharField(max_length=300)
    body = models.TextField()
    delay_days = models.PositiveSmallIntegerField(default=0)
    delay_hours = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="sequence_step_position"),
            models.CheckConstraint(condition=Q(position__gte=1), name="sequence_step_position_positive"),
        ]

    def __str__(self) -> str:
        return f"step {self.position} of sequence {self.sequence_id}"

    @property
    def delay(self) -> timedelta:
        return timedelta(days=self.delay_days, hours=self.delay_hours)


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped"


class StopReason(models.TextChoices):
    REPLIED = "replied", "The lead replied"
    WON = "won", "The lead was won"
    LOST = "lost", "The lead was lost"
    UNENROLLED = "unenrolled", "Unenrolled by a member"
    SEQUENCE_DELETED = "sequence_deleted", "The sequence was deleted"
    LEAD_UNAVAILABLE = "lead_unavailable", "The lead was deleted, merged or has no email address"
    DELIVERY_FAILED = "delivery_failed", "The mail server refused the recipient"
    DELIVERY_UNKNOWN = "delivery_unknown", "A send was interrupted; whether it went out is unknown"
    DO_NOT_CONTACT = "do_not_contact", "The address is on the do-not-contact list"


class Enrollment(models.Model):
    """A lead going through a sequence: `next_position` is the step to send at `next_send_at`."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=16, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    stop_reason = models.CharField(max_length=32, choices=StopReason.choices, blank=True, default="")
    stop_details = models.JSONField(default=dict, blank=True)
    next_position = models.PositiveSmallIntegerField(default=1)
    next_send_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enrolled_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # one running enrollment of a lead per sequence; finished ones stay as history
            models.UniqueConstraint(
                fields=["sequence", "lead"], condition=Q(status="active"), name="enrollment_one_active"
            ),
            models.CheckConstraint(
                condition=Q(status__in=EnrollmentStatus.values), name="enrollment_status_known"
            ),
        ]
        indexes = [
            # the send job: active enrollments whose next step is due
            models.Index(fields=["next_send_at"], name="enrollment_due_idx", condition=Q(status="active")),
            # stopping on a lead's reply or stage change
            models.Index(fields=["lead"], name="enrollment_lead_active_idx", condition=Q(status="active")),
            models.Index(fields=["sequence", "-enrolled_at", "-id"], name="enrollment_sequence_idx"),
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id} in sequence {self.sequence_id}"


class SentStepStatus(models.TextChoices):
    PENDING = "pending", "Reserved: being sent"
    SENT = "sent", "Sent"
    UNKNOWN = "unknown", "Interrupted: may or may not have been sent"


class SentStep(models.Model):
    """A step's email for one enrollment, written (with its Message-ID) before the email is sent: the
    unique (enrollment, step) row is what stops a retried job from sending it again."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="sent_steps")
    # SET_NULL: a step removed from the sequence later keeps its sent history (position, subject)
    step = models.ForeignKey(SequenceStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    position = models.PositiveSmallIntegerField()
    message_id = models.CharField(max_length=300, unique=True)
    recipient = models.CharField(max_length=254)
    # what was (or is being) sent, rendered at reservation: a retry sends exactly this, or nothing
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=SentStepStatus.choices, default=SentStepStatus.PENDING)
    reserved_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The EMAIL activity on the lead's timeline. No database constraint: the timeline's append-only trigger
    # must stay what refuses a TRUNCATE of activities (a foreign key would refuse it first).
    activity = models.ForeignKey(
        "activities.Activity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "step"], name="sent_step_once"),
            models.UniqueConstraint(fields=["enrollment", "position"], name="sent_step_position_once"),
        ]

    def __str__(self) -> str:
        return f"step {self.position} of enrollment {self.enrollment_id}"
