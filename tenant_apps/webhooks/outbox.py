"""The webhooks' outbox: domain events recorded for subscribed endpoints, and their deliveries created.
Deliveries and their attempts are in tenant_apps.webhooks.delivery, endpoints in
tenant_apps.webhooks.services.

The path of an event:
1. `outbox_record` (a transactional subscriber of every domain event) writes an OutboxEvent in the
   publishing transaction when an active endpoint subscribes to its type, and enqueues `deliver_event`
   once that transaction commits. A rolled-back change leaves no row and enqueues nothing.
2. `event_dispatch` creates one Delivery per subscribed endpoint, once (the event row is locked and
   marked dispatched in the same transaction).
3. `delivery_attempt` claims a delivery under a row lock with a lease, POSTs it signed, and records the
   outcome: success once, a retry with exponential backoff (about a day in all) on timeouts, network
   errors, 408, 429 and 5xx, or failure. A delivery that fails for good disables its endpoint unless
   something else reached the endpoint meanwhile, and the organization's admins are notified.
4. `webhooks_sweep` (every minute, config/cron.py) re-enqueues what a lost job or a killed worker left:
   undispatched events, overdue retries and claims whose lease expired, and drops events past retention.

Delivery is at least once: a worker killed after the receiver got the request but before the outcome was
saved leads to a second POST of the same event. Receivers dedupe on X-LeadPulse-Event-Id.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from shared_apps.core.events import DomainEvent
from shared_apps.organizations.context import enqueue_in_organization
from tenant_apps.webhooks.models import (
    EVENT_TYPES,
    Delivery,
    DeliveryStatus,
    Endpoint,
    OutboxEvent,
    matches_any,
)
from tenant_apps.webhooks.selectors import patterns_invalidate, subscribed_patterns

# Domain events that add an activity to a record's timeline: sent as "activity.created".
ACTIVITY_VERBS = {"activity_logged": None, "note_added": "NOTE", "email_recorded": "EMAIL"}
# Domain topics sent under another name: the reminders' "task fell due" is "task.due" to receivers.
ALIASES = {"task.reminded": "task.due"}


def on_commit(callback: Any) -> None:
    # robust: the change is committed either way; a failed enqueue is the sweep's to catch up on
    transaction.on_commit(callback, robust=True)


def _plain(value: Any) -> Any:
    """JSON-safe, and storable in jsonb (which refuses NUL characters)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return str(value)


def webhook_event_of(event: DomainEvent) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(event type, record, data) as receivers see it, or None for events webhooks do not carry."""
    namespace, _, verb = event.topic.partition(".")
    # the record's owner decides who a member's stream shows an event to; payloads keep their shape without it
    data = {key: value for key, value in event.data.items() if key != "owner_id"}
    if verb in ACTIVITY_VERBS:
        activity_type = ACTIVITY_VERBS[verb] or data.pop("type", None)
        data = {"activity_type": activity_type, **data}
        event_type = "activity.created"
    else:
        event_type = ALIASES.get(event.topic, event.topic)
        if event_type not in EVENT_TYPES:
            return None
    record_type = "lead" if namespace == "rule" else namespace
    return event_type, {"type": record_type, "id": event.record_id}, _plain(data)


def outbox_record(event: DomainEvent) -> None:
    """Write the event to the outbox inside the publishing transaction, when some active endpoint of the
    organization subscribes to its type (a cached check: two cache reads for any other event), and
    enqueue its delivery once that transaction commits."""
    if event.schema_name == get_public_schema_name():
        return
    translated = webhook_event_of(event)
    if translated is None:
        return
    event_type, record, data = translated
    if not matches_any(subscribed_patterns(), event_type):
        return
    event_id, now = uuid.uuid4(), timezone.now()
    payload = {
        "id": str(event_id),
        "type": event_type,
        "occurred_at": now.isoformat().replace("+00:00", "Z"),
        "record": record,
        "actor_id": event.actor_id,
        "data": data,
    }
    OutboxEvent.objects.create(id=event_id, topic=event_type, payload=payload, created_at=now)
    schema = event.schema_name
    on_commit(lambda: enqueue_dispatch(schema, str(event_id)))


def enqueue_dispatch(schema: str, event_id: str) -> None:
    enqueue_in_organization(schema, "tenant_apps.webhooks.jobs.deliver_event", event_id)


def enqueue_attempt(schema: str, delivery_id: int, delay: float | None = None) -> None:
    enqueue_in_organization(
        schema,
        "tenant_apps.webhooks.jobs.deliver_attempt",
        delivery_id,
        delay=None if delay is None else timedelta(seconds=delay),
    )


def event_dispatch(*, event_id: str) -> list[int]:
    """Create the event's deliveries, once: to every active endpoint subscribed to its type that existed
    when the event happened. Returns the ids of its deliveries due now."""
    now = timezone.now()
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            return []
        if event.dispatched_at is None:
            endpoints = Endpoint.objects.filter(is_active=True, created_at__lte=event.created_at)
            Delivery.objects.bulk_create(
                [
                    Delivery(endpoint=endpoint, event=event, next_attempt_at=now)
                    for endpoint in endpoints
                    if endpoint.subscribes_to(event.topic)
                ],
                ignore_conflicts=True,
            )
            event.dispatched_at = now
            event.save(update_fields=["dispatched_at"])
        return list(
            event.deliveries.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("pk")
            .values_list("pk", flat=True)
        )


def invalidate_patterns() -> None:
    # Now, for the rest of this transaction, and again once committed, for everyone else.
    patterns_invalidate()
    on_commit(patterns_invalidate)
