"""The webhooks' outbox: domain events recorded for subscribed endpoints, and their deliveries created.
Deliveries and their attempts are in tenant_apps.webhooks.delivery, endpoints in
tenant_apps.webhooks.services.

The path of an event:
1. `outbox_record` (a transactional subscriber of every domain event) writes an OutboxEvent in the
   publishing transaction when an active endpoint subscribes to its type, and enqueues `deliver_event`
   once that transaction commits. A rolled-back change leaves no row and enqueues nothing.
2. That job (one per organization at a time) runs `batches.outbox_dispatch`: one Delivery per subscribed
   endpoint for every waiting event, once (the events are locked and marked dispatched in the same
   transaction), then `batches.endpoint_drain` for each endpoint: its due deliveries in the order of their
   events, in batches over a kept-alive connection, one drain per endpoint at a time.
3. Each delivery is claimed under a row lock with a lease, POSTed signed, and its outcome recorded
   (`delivery.delivery_attempt` does the same for one delivery: retries, redeliveries, the sweep):
   success once, a retry with exponential backoff (about a day in all) on timeouts, network errors, 408,
   429 and 5xx, or failure. A delivery that fails for good disables its endpoint unless
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

import django_rq
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from shared_apps.core.events import DomainEvent
from shared_apps.organizations.context import enqueue_in_organization
from tenant_apps.webhooks.models import (
    EVENT_TYPES,
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
    outbox_record_many([event])


def outbox_record_many(events: list[DomainEvent]) -> None:
    """outbox_record for many events of one transaction: one check of the subscriptions, one INSERT, one
    enqueue once it commits."""
    events = [event for event in events if event.schema_name != get_public_schema_name()]
    if not events:
        return
    patterns = subscribed_patterns()
    rows = []
    now = timezone.now()
    for event in events:
        translated = webhook_event_of(event)
        if translated is None or not matches_any(patterns, translated[0]):
            continue
        event_type, record, data = translated
        event_id = uuid.uuid4()
        payload = {
            "id": str(event_id),
            "type": event_type,
            "occurred_at": now.isoformat().replace("+00:00", "Z"),
            "record": record,
            "actor_id": event.actor_id,
            "data": data,
        }
        rows.append(OutboxEvent(id=event_id, topic=event_type, payload=payload, created_at=now))
    if not rows:
        return
    OutboxEvent.objects.bulk_create(rows)
    _hand_off_on_commit(events[0].schema_name, [str(row.id) for row in rows])


class _Committing:
    """The event ids recorded in one transaction, handed to the delivery job together once it commits.

    Each event registers its own small on-commit callback (`_HandOff`), and the first of them to run hands
    over its own id and every later one of the transaction in one Redis round trip; the others find theirs
    handed over already and return at once. So the thousands of events of an import cost one round trip
    right after COMMIT, ahead of the other subscribers' after-commit work, not one round trip each spread
    through it. Only ids from the running callback's own onwards are taken: a callback that never runs
    (one registered before a test started capturing callbacks) never sends another's event. An id whose
    row was rolled back with a savepoint may be handed over with the rest: dispatch finds no row for it."""

    __slots__ = ("handed", "ids", "pending", "schema")

    def __init__(self, schema: str, pending: list[Any]) -> None:
        self.schema = schema
        # the connection's list of on-commit callbacks when this batch began: a commit, a rollback or a
        # rolled-back savepoint replaces it, and the next event starts a new batch
        self.pending = pending
        self.ids: list[str] = []
        self.handed: set[int] = set()  # positions in `ids` already given to Redis

    def hand_off(self, index: int) -> None:
        if index in self.handed:
            return
        taken = [position for position in range(index, len(self.ids)) if position not in self.handed]
        self.handed.update(taken)
        enqueue_dispatch(self.schema, *(self.ids[position] for position in taken))


class _HandOff:
    __slots__ = ("committing", "index")

    def __init__(self, committing: _Committing, index: int) -> None:
        self.committing, self.index = committing, index

    def __call__(self) -> None:
        self.committing.hand_off(self.index)


def _hand_off_on_commit(schema: str, event_ids: list[str]) -> None:
    """Hand these ids (recorded together) to the delivery job once the transaction commits: one callback,
    joined with every other id the transaction records after them."""
    db = transaction.get_connection()
    if not db.in_atomic_block:  # autocommit: the rows are committed already
        on_commit(lambda: enqueue_dispatch(schema, *event_ids))
        return
    committing: _Committing | None = getattr(db, "_webhooks_committing", None)
    if committing is None or committing.schema != schema or committing.pending is not db.run_on_commit:
        committing = _Committing(schema, db.run_on_commit)
        db._webhooks_committing = committing
    first = len(committing.ids)
    committing.ids.extend(event_ids)
    on_commit(_HandOff(committing, first))  # outside a transaction: runs now


# One delivery job per organization waits in the queue at a time: each committed event's id joins the
# organization's waiting list in Redis, and only the commit that starts the list enqueues a job; that job
# takes the whole list as it starts, dispatches those events and sends what is due in batches. So a
# transaction committing thousands of events (an import), or a burst of changes, costs one job, not one
# per event. A list lost with Redis (or expired: WAITING_TTL) leaves its events to the sweep.
WAITING_TTL = 600


def _waiting_key(schema: str) -> str:
    return f"lp:webhooks:waiting:{schema}"


def enqueue_dispatch(schema: str, *event_ids: str, coalesce: bool = True) -> None:
    """Have `event_ids` dispatched: by the job already waiting for the organization (`coalesce`), or by a
    new job (the sweep's catch-up)."""
    key = _waiting_key(schema)
    with django_rq.get_connection("default").pipeline() as pipe:
        pipe.rpush(key, *event_ids)
        pipe.expire(key, WAITING_TTL)
        length, _ = pipe.execute()
    if coalesce and length > len(event_ids):
        return  # a queued job takes these with the list
    enqueue_in_organization(schema, "tenant_apps.webhooks.jobs.deliver_event", event_ids[0])


def waiting_events(schema: str, event_id: str) -> list[str]:
    """For the delivery job as it starts: the ids waiting (the job's own first), the list emptied at once so
    that the next commit enqueues a new job."""
    key = _waiting_key(schema)
    with django_rq.get_connection("default").pipeline() as pipe:  # MULTI: taken and emptied together
        pipe.lrange(key, 0, -1)
        pipe.delete(key)
        raw, _ = pipe.execute()
    return list(dict.fromkeys([event_id, *(item.decode() for item in raw)]))


def enqueue_attempt(schema: str, delivery_id: int, delay: float | None = None) -> None:
    enqueue_in_organization(
        schema,
        "tenant_apps.webhooks.jobs.deliver_attempt",
        delivery_id,
        delay=None if delay is None else timedelta(seconds=delay),
    )


def invalidate_patterns() -> None:
    # Now, for the rest of this transaction, and again once committed, for everyone else.
    patterns_invalidate()
    on_commit(patterns_invalidate)
