from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from shared_apps.core.search import weighted_vector


class ActivityType(models.TextChoices):
    EMAIL = "EMAIL", "Email"
    CALL = "CALL", "Call"
    MEETING = "MEETING", "Meeting"
    NOTE = "NOTE", "Note"
    STAGE_CHANGE = "STAGE_CHANGE", "Stage change"
    OWNER_CHANGE = "OWNER_CHANGE", "Owner change"
    TASK = "TASK", "Task"
    CREATED = "CREATED", "Created"
    STATUS_CHANGE = "STATUS_CHANGE", "Status change"
    CONVERTED = "CONVERTED", "Converted"
    MERGED = "MERGED", "Merged"
    SYSTEM = "SYSTEM", "System"


# Types a member may log by hand; the rest are written by services only.
LOGGABLE_TYPES = (
    ActivityType.EMAIL,
    ActivityType.CALL,
    ActivityType.MEETING,
    ActivityType.NOTE,
    ActivityType.TASK,
)
# Logging one of these means the lead was contacted.
CONTACT_TYPES = (ActivityType.EMAIL, ActivityType.CALL, ActivityType.MEETING, ActivityType.NOTE)


class Activity(models.Model):
    """One entry of a lead's timeline: the audit log. Append-only, enforced by a database trigger."""

    # The record(s) the activity is on: at least one. A contact's or an opportunity's activity also carries
    # its account (at the time), so an account's timeline is one index range. No single-column indexes:
    # the (record, created_at) ones serve lookups by record alone too.
    lead = models.ForeignKey(
        "leads.Lead",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="activities",
        db_index=False,
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="activities",
        db_index=False,
    )
    account = models.ForeignKey(
        "accounts.Account",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="activities",
        db_index=False,
    )
    opportunity = models.ForeignKey(
        "opportunities.Opportunity",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="activities",
        db_index=False,
    )
    type = models.CharField(max_length=16, choices=ActivityType.choices)
    subject = models.CharField(max_length=300, blank=True, default="")
    body = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    # PROTECT: the trigger would refuse the UPDATE that SET_NULL needs; members are deactivated, not deleted
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    # email threading (EMAIL activities only)
    message_id = models.CharField(max_length=300, blank=True, default="")
    thread_id = models.CharField(max_length=300, blank=True, default="")
    # search (tenant_apps/search): an email's subject and body, a call's or meeting's notes
    search_vector = models.GeneratedField(
        expression=weighted_vector(A=["subject"], C=["body"]),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        indexes = [
            GinIndex(
                fields=["search_vector"],
                name="activity_search_gin",
                # OR of equalities, not IN: a clone re-creates the index from its dumped definition, and
                # PostgreSQL deparses `IN (...)` differently the second time (shared_apps cloning tests)
                condition=Q(type="EMAIL") | Q(type="CALL") | Q(type="MEETING"),
            ),
            models.Index(fields=["lead", "-created_at", "-id"], name="activity_lead_created_idx"),
            # a contact's, an account's and a deal's timelines: over the activities on one only (most are on
            # a lead alone), so a lead's activity writes none of these three and they stay their records' size
            *(
                models.Index(
                    fields=[field, "-created_at", "-id"],
                    name=f"activity_{short}_time_idx",
                    condition=Q(**{f"{field}__isnull": False}),
                )
                for field, short in (("contact", "contact"), ("account", "account"), ("opportunity", "opp"))
            ),
            models.Index(fields=["lead", "type", "-created_at"], name="activity_lead_type_idx"),
            models.Index(fields=["type", "created_at"], name="activity_type_created_idx"),
            models.Index(
                fields=["lead", "thread_id"], name="activity_thread_idx", condition=~Q(thread_id="")
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(lead__isnull=False)
                | Q(contact__isnull=False)
                | Q(account__isnull=False)
                | Q(opportunity__isnull=False),
                name="activity_on_a_record",
            ),
            # an email recorded twice (same Message-ID on the same lead) is one activity
            models.UniqueConstraint(
                fields=["lead", "message_id"], condition=~Q(message_id=""), name="activity_unique_message"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} on lead {self.lead_id}"


class Note(models.Model):
    """A note on one record; each note is also a NOTE activity on that record's timeline."""

    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="notes"
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="notes"
    )
    account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="notes"
    )
    opportunity = models.ForeignKey(
        "opportunities.Opportunity", null=True, blank=True, on_delete=models.CASCADE, related_name="notes"
    )
    body = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    search_vector = models.GeneratedField(
        expression=weighted_vector(C=["body"]), output_field=SearchVectorField(), db_persist=True
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(lead__isnull=False)
                | Q(contact__isnull=False)
                | Q(account__isnull=False)
                | Q(opportunity__isnull=False),
                name="note_on_a_record",
            ),
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="note_search_gin"),
            models.Index(fields=["lead", "-created_at"], name="note_lead_created_idx"),
        ]

    def __str__(self) -> str:
        return f"note {self.pk}"
