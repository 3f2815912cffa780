"""Writes of the event log: the transactional subscriber that records what streams carry, and retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max, Subquery
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from shared_apps.core.db import connection
from shared_apps.core.events import DomainEvent, subscribe_in_transaction
from shared_apps.users.signals import credentials_revoked
from tenant_apps.leads.models import Lead
from tenant_apps.realtime import conf
from tenant_apps.realtime.models import PRUNED_TOPIC, REVOKED_CHANNEL, EventLog

# What the stream carries: every lead change, imports' progress and outcome, and notifications.
STREAMED_TOPICS = ("lead.", "import.", "notification.")

_subscribed: list[Callable[[], None]] = []


def subscribe_to_events() -> None:
    """Called once at start-up (RealtimeConfig.ready)."""
    if not _subscribed:
        _subscribed.extend(
            subscribe_in_transaction(prefix, event_record, many=event_records) for prefix in STREAMED_TOPICS
        )
        credentials_revoked.connect(revocation_announce, dispatch_uid="realtime.revocation_announce")


def revocation_announce(*, user_id: int, **kwargs: Any) -> None:
    """Tell every process's listener that a member lost a credential, so the member's open streams check
    theirs again within moments instead of at their next reconnection. NOTIFY is sent when the transaction
    that revoked commits (at once outside one), to the database the organization is on."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [REVOKED_CHANNEL, f"{connection.schema_name}:{user_id}"])


def event_record(event: DomainEvent) -> None:
    """Log a streamed event inside the transaction that publishes it, so it commits or rolls back with the
    change. The commit itself numbers the row and announces it (NOTIFY, sent on commit only): a rolled-back
    change is never streamed. Lead events carry the lead's owner at that moment (`owner_id`), which decides
    who sees them (selectors.visible_to) and is kept in its own column, not in the streamed data."""
    if event.schema_name == get_public_schema_name():
        return
    data = dict(event.data)
    owner: Any = data.pop("owner_id", None)
    if event.topic.startswith("lead.") and "owner_id" not in event.data:
        # a lead event published without its owner (none of the lead services does this): look it up
        owner = Subquery(Lead.objects.filter(pk=event.record_id).values("owner_id")[:1])
    EventLog.objects.create(
        topic=event.topic, record_id=event.record_id, actor_id=event.actor_id, owner_id=owner, data=data
    )


def event_records(events: list[DomainEvent]) -> None:
    """event_record for many events of one transaction: one INSERT (those published without their lead's
    owner are logged one by one, looking it up)."""
    rows = []
    for event in events:
        if event.schema_name == get_public_schema_name():
            continue
        if event.topic.startswith("lead.") and "owner_id" not in event.data:
            event_record(event)
            continue
        data = dict(event.data)
        owner = data.pop("owner_id", None)
        rows.append(
            EventLog(
                topic=event.topic,
                record_id=event.record_id,
                actor_id=event.actor_id,
                owner_id=owner,
                data=data,
            )
        )
    EventLog.objects.bulk_create(rows)


@transaction.atomic
def event_log_prune(*, days: float | None = None, now: datetime | None = None) -> int:
    """Remove the events older than the retention (REALTIME_RETENTION_DAYS); returns how many.

    The newest removed event stays as a `log.pruned` marker, so a client resuming from before it is told
    to reload (a `reset`) instead of silently missing what was removed."""
    days = conf.value("REALTIME_RETENTION_DAYS") if days is None else days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    boundary = EventLog.objects.filter(created_at__lt=cutoff).aggregate(boundary=Max("id"))["boundary"]
    if boundary is None:
        return 0
    removed, _ = EventLog.objects.filter(id__lt=boundary).exclude(topic=PRUNED_TOPIC).delete()
    EventLog.objects.filter(id__lt=boundary, topic=PRUNED_TOPIC).delete()  # the previous marker
    marked = EventLog.objects.filter(id=boundary).exclude(topic=PRUNED_TOPIC)
    removed += marked.update(topic=PRUNED_TOPIC, record_id=0, actor_id=None, owner_id=None, data={})
    return removed
