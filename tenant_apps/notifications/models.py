from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Notification(models.Model):
    """An in-app notification for one member. `key` makes sending idempotent: a job retried by rq
    (at-least-once delivery) finds its notification already there instead of sending a second one."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=50)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    key = models.CharField(max_length=200, blank=True, default="")
    emailed_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "key"], condition=~Q(key=""), name="notification_once"
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_recipient_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id}"
