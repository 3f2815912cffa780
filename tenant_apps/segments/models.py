from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class RecordType(models.TextChoices):
    LEAD = "lead", "Lead"
    CONTACT = "contact", "Contact"
    ACCOUNT = "account", "Account"
    OPPORTUNITY = "opportunity", "Opportunity"


class Segment(models.Model):
    """A named, saved filter over one record type, evaluated at read time.

    `definition` is {"match": "all"|"any", "conditions": [{"field", "op", "value"}, ...]}, validated on
    save against the fields and operators each record type allows."""

    name = models.CharField(max_length=200)
    record_type = models.CharField(max_length=16, choices=RecordType.choices)
    definition = models.JSONField(default=dict)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    shared = models.BooleanField(default=False, help_text="Visible to every member, not only its owner.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["record_type", "owner"], name="segment_type_owner_idx"),
            # every ?ordering= the list offers, as the cursor pages (the field, then the id)
            *(
                models.Index(fields=[field, "id"], name=f"segment_by_{field}_idx")
                for field in ("created_at", "updated_at", "name")
            ),
        ]

    def __str__(self) -> str:
        return self.name
