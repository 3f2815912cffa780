"""An organization's own fields on its records: one definition row per field; the values live on the record
itself (CustomerRecord.custom, a JSONB object keyed by the field's key)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class RecordType(models.TextChoices):
    LEAD = "lead", "Lead"
    CONTACT = "contact", "Contact"
    ACCOUNT = "account", "Account"
    OPPORTUNITY = "opportunity", "Opportunity"


class FieldKind(models.TextChoices):
    TEXT = "text", "Text"
    LONG_TEXT = "long_text", "Long text"
    NUMBER = "number", "Number"
    MONEY = "money", "Money"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"
    BOOLEAN = "boolean", "Yes/no"
    SINGLE_SELECT = "single_select", "Single select"
    MULTI_SELECT = "multi_select", "Multi select"
    URL = "url", "URL"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    MEMBER = "member", "Member"


SELECTS = (FieldKind.SINGLE_SELECT, FieldKind.MULTI_SELECT)


class IndexState(models.TextChoices):
    NONE = "none", "Not indexed"  # not filterable (or long text: never indexed)
    BUILDING = "building", "Building"  # CREATE INDEX CONCURRENTLY queued or running
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class FieldState(models.TextChoices):
    ACTIVE = "active", "Active"
    # deleted by an admin: hidden everywhere while a job drops its index and strips its values; the key
    # stays taken until then (a new field of that key would lose values written meanwhile)
    DELETING = "deleting", "Deleting"


class CustomField(models.Model):
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    key = models.CharField(max_length=50)
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=20, choices=FieldKind.choices)
    required = models.BooleanField(default=False)
    # selects: [{"id": "o1", "label": "Hot"}, ...] in display order; values store the ids, so a renamed
    # option relabels every record at once
    options = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)
    filterable = models.BooleanField(default=False)
    # lead fields shown on the lead board's cards (the board shows the first few by position)
    on_card = models.BooleanField(default=False)
    index_state = models.CharField(max_length=10, choices=IndexState.choices, default=IndexState.NONE)
    state = models.CharField(max_length=10, choices=FieldState.choices, default=FieldState.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["record_type", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["record_type", "key"], name="customfield_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.record_type}.{self.key}"

    @property
    def index_name(self) -> str:
        """Named by id, not key: stable while the label changes, unique per schema."""
        return f"cf_{self.record_type}_{self.pk}"

    def option_ids(self) -> list[str]:
        return [option["id"] for option in self.options]
