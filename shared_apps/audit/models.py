from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One security-relevant action: who (a snapshot of the actor, which outlives the account), when, from
    which address, what was acted on and what changed. Append-only: a database trigger refuses UPDATE and
    DELETE (see the migrations), like the activity timeline."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # dotted, noun first: "sign_in.succeeded", "member.invited", "api_key.revoked", "organization.purged"
    action = models.CharField(max_length=64, db_index=True)
    # no foreign key: the row must outlive the member (and a platform event names an operator of the public
    # schema); the id and the email as they were are kept
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_email = models.CharField(max_length=254, blank=True)
    # "web", "api", "api_key", "sso", "system" (jobs, commands)
    via = models.CharField(max_length=16, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    # what changed: {"field": [before, after]} for edits, free details otherwise; never secrets
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["action", "at"], name="audit_action_at_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_email or 'system'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("the audit log is append-only")
        super().save(*args, **kwargs)
