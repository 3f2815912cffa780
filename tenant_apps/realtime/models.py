"""The organization's event log: what its real-time stream sends, and replays after a reconnection.

The table lives in each organization's schema, so ids are per organization. They increase in COMMIT order,
not in insert order: a row is inserted with a provisional id and, when its transaction commits, a deferred
trigger (see migrations/0001_initial.py) takes the organization's event lock, gives the row the next id from
the sequence and sends NOTIFY "<schema>:<id>". The lock is held only from that moment to the end of the
commit, so a committed id is never followed by a smaller one: a client resuming from Last-Event-ID N misses
nothing by asking for ids above N. (With plain insert-order ids, two overlapping transactions could commit
7 after 8 has been sent, and 7 would be lost to every resume.)
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

# The channel every process LISTENs on. Payload "<schema>:<event id>": ids, never data (NOTIFY caps at 8 kB).
CHANNEL = "leadpulse_events"
# Payload "<schema>:<member id>": that member was deactivated or lost a token (services.revocation_announce).
REVOKED_CHANNEL = "leadpulse_revoked"
# What the retention job leaves in place of the events it removed: resuming from before it means a gap.
PRUNED_TOPIC = "log.pruned"


class EventLog(models.Model):
    id = models.BigAutoField(primary_key=True)
    topic = models.CharField(max_length=100)
    record_id = models.BigIntegerField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    # The lead's owner when the event happened, so the stream can filter what a rep may see.
    owner_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    # Set again at commit by the trigger (clock_timestamp()), so it follows the id order.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # retention: "older than N days"
            models.Index(fields=["created_at"], name="eventlog_created_idx"),
            # a purged lead's last known owner
            models.Index(fields=["record_id", "-id"], name="eventlog_record_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.topic} {self.record_id}"
