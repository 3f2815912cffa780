from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class SuppressionReason(models.TextChoices):
    ERASED = "erased", "The person's data was erased"
    UNSUBSCRIBED = "unsubscribed", "The person unsubscribed"
    BOUNCED = "bounced", "Mail to the address bounced"
    MANUAL = "manual", "Added by an admin"


class DoNotContact(models.Model):
    """An email address nobody in the organization may bring back or write to: imports skip it, sequences
    neither enroll nor send to it, and creating a lead or contact with it needs a conscious override."""

    email = models.CharField(max_length=254, unique=True)  # normalized: trimmed, lowercase
    reason = models.CharField(max_length=16, choices=SuppressionReason.choices)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(email=models.functions.Lower("email")), name="dnc_email_lower"
            ),
            models.CheckConstraint(condition=~Q(email=""), name="dnc_email_not_blank"),
        ]
        # the list's orderings, as the cursor pages (email's unique index serves ?ordering=email)
        indexes = [models.Index(fields=["created_at", "id"], name="dnc_by_created_at_idx")]

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"
