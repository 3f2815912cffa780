from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

DEFAULT_IDLE_DAYS = 7
MAX_IDLE_DAYS = 365


class FollowUpSettings(models.Model):
    """The organization's follow-up automation settings: one row per schema (its id is always 1), created
    on the first change; until then the defaults apply."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    # A lead nobody contacted for this many days gets a follow-up task for its owner.
    idle_days = models.PositiveSmallIntegerField(default=DEFAULT_IDLE_DAYS)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="follow_up_settings_singleton"),
            models.CheckConstraint(
                condition=Q(idle_days__gte=1, idle_days__lte=MAX_IDLE_DAYS), name="follow_up_idle_days_range"
            ),
        ]

    def __str__(self) -> str:
        return f"follow-ups after {self.idle_days} idle days"
