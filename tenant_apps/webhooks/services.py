"""Every write on webhooks: endpoints, the outbox, deliveries and their attempts.

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

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from shared_apps.core.db import connection
from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import DomainEvent, publish_on_commit
from shared_apps.core.validation import clean_text
from shared_apps.organizations.context import enqueue_in_organization
from shared_apps.users.models import Role, User
from tenant_apps.webhooks import signing, transport
from tenant_apps.webhooks.exceptions import (
    DeliveryInProgress,
    DeliveryNotFound,
    EndpointDisabled,
    EndpointNotFound,
    WebhooksAdminOnly,
)
from tenant_apps.webhooks.models import (
    EVENT_TYPES,
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Endpoint,
    OutboxEvent,
    matches_any,
    pattern_is_known,
)
from tenant_apps.webhooks.selectors import patterns_invalidate, subscribed_patterns

logger = logging.getLogger(__name__)

# Seconds to wait after the n-th failure: 30 s doubling, capped at 4 h; 15 attempts span about 24 h.
RETRY_DELAYS = (30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 14400, 14400, 14400, 14400, 14400)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
RETRY_JITTER = 0.1  # up to +10%, so deliveries that failed together do not all come back together
# A claim outlives the longest expected POST; after it, the sweep considers the worker gone.
LEASE = timedelta(seconds=120)
SWEEP_GRACE = timedelta(seconds=60)  # leave rq's scheduler the first chance at what is due
SWEEP_LIMIT = 500
RETENTION = timedelta(days=30)
SUCCESS_MARK_EVERY = timedelta(seconds=10)
MAX_ENDPOINTS = 50
MAX_EVENT_TYPES = 50
USER_AGENT = "LeadPulse-Webhooks/1.0"
EDITABLE_FIELDS = ("url", "description", "event_types", "secret", "is_active")

# Domain events that add an activity to a record's timeline: sent as "activity.created".
ACTIVITY_VERBS = {"activity_logged": None, "note_added": "NOTE", "email_recorded": "EMAIL"}
# Domain topics sent under another name: the reminders' "task fell due" is "task.due" to receivers.
ALIASES = {"task.reminded": "task.due"}


def retry_delay(failures: int) -> float:
    """Seconds before the next attempt after `failures` failed ones (1-based), jitter included."""
    base = RETRY_DELAYS[min(failures, len(RETRY_DELAYS)) - 1]
    return base * (1 + random.uniform(0, RETRY_JITTER))


def _require_admin(actor: User) -> None:
    if actor.role != Role.ADMIN:
        raise WebhooksAdminOnly()


def _on_commit(callback: Any) -> None:
    # robust: the change is committed either way; a failed enqueue is the sweep's to catch up on
    transaction.on_commit(callback, robust=True)


# ---- the outbox ----------------------------------------------------------------------------------------


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
    _on_commit(lambda: _enqueue_dispatch(schema, str(event_id)))


def _enqueue_dispatch(schema: str, event_id: str) -> None:
    enqueue_in_organization(schema, "tenant_apps.webhooks.jobs.deliver_event", event_id)


def _enqueue_attempt(schema: str, delivery_id: int, delay: float | None = None) -> None:
    enqueue_in_organization(
        schema,
        "tenant_apps.webhooks.jobs.deliver_attempt",
        delivery_id,
        delay=None if delay is None else timedelta(seconds=delay),
    )


def event_deliver(*, event_id: str) -> dict[int, str | None]:
    """Create the event's deliveries (once) and attempt each one due now; returns each one's outcome."""
    return {
        delivery_id: delivery_attempt(delivery_id=delivery_id)
        for delivery_id in event_dispatch(event_id=event_id)
    }


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


# ---- one attempt ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    number: int
    url: str
    body: bytes
    headers: dict[str, str]


def _claim(delivery_id: int) -> Claim | None:
    """Take the delivery for one attempt if it is due and nobody holds it: the row lock (skipping rows
    another worker has locked) and the lease make concurrent runs of the same job send once."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return None
        if delivery.status == DeliveryStatus.SENDING:
            if delivery.lease_expires_at is not None and delivery.lease_expires_at > now:
                return None  # another worker is on it
            _abandon(delivery, now)
            if delivery.failures >= MAX_ATTEMPTS:
                _give_up(delivery, now)
                return None
        elif delivery.status != DeliveryStatus.PENDING or (
            delivery.next_attempt_at is not None and delivery.next_attempt_at > now
        ):
            return None  # done, given up, or not due yet
        endpoint = delivery.endpoint
        if not endpoint.is_active:
            delivery.status, delivery.last_error = DeliveryStatus.FAILED, "The endpoint is disabled."
            delivery.save()
            return None
        delivery.attempts += 1
        delivery.status = DeliveryStatus.SENDING
        delivery.lease_expires_at = now + LEASE
        delivery.save(update_fields=["attempts", "status", "lease_expires_at", "updated_at"])
        DeliveryAttempt.objects.create(delivery=delivery, number=delivery.attempts, started_at=now)
    event = delivery.event
    body = signing.body_of(event.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.EVENT_ID_HEADER: str(event.id),
        signing.EVENT_TYPE_HEADER: event.topic,
        signing.DELIVERY_HEADER: str(delivery.pk),
        signing.ATTEMPT_HEADER: str(delivery.attempts),
        signing.SIGNATURE_HEADER: signing.signature_header(endpoint.secret, int(time.time()), body),
    }
    return Claim(delivery.pk, delivery.attempts, endpoint.url, body, headers)


def _abandon(delivery: Delivery, now: datetime) -> None:
    """The previous claim's worker stopped before saving an outcome: count it as a failed attempt."""
    DeliveryAttempt.objects.filter(delivery=delivery, number=delivery.attempts, outcome="").update(
        outcome=AttemptOutcome.ABANDONED,
        finished_at=now,
        error="The worker stopped mid-delivery; the receiver may have got it (it dedupes on the event id).",
    )
    delivery.failures += 1
    delivery.status = DeliveryStatus.PENDING
    delivery.last_error = "The worker stopped mid-delivery."


def _is_retryable(response: transport.Response) -> bool:
    code = response.status_code
    return code is None or code >= 500 or code in (408, 429)


def _record(claim: Claim, response: transport.Response) -> str:
    """Save an attempt's outcome and decide what follows. Only the current claim moves the delivery on
    (a claim that outlived its lease was taken over), except that a success always counts, once."""
    now = timezone.now()
    succeeded = response.status_code is not None and 200 <= response.status_code < 300
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=claim.delivery_id).first()
        if delivery is None:
            return (
                AttemptOutcome.SUCCEEDED if succeeded else AttemptOutcome.FAILED
            )  # endpoint deleted meanwhile
        current = delivery.status == DeliveryStatus.SENDING and delivery.attempts == claim.number
        if succeeded:
            outcome = AttemptOutcome.SUCCEEDED
        elif current and _is_retryable(response) and delivery.failures + 1 < MAX_ATTEMPTS:
            outcome = AttemptOutcome.RETRYING
        else:
            outcome = AttemptOutcome.FAILED
        DeliveryAttempt.objects.filter(delivery=delivery, number=claim.number).update(
            outcome=outcome,
            finished_at=now,
            status_code=response.status_code,
            latency_ms=response.latency_ms,
            response_excerpt=response.excerpt,
            error=response.error[:500] if response.error else _status_error(response),
        )
        if succeeded and delivery.status != DeliveryStatus.SUCCEEDED:
            delivery.status, delivery.delivered_at, delivery.last_error = DeliveryStatus.SUCCEEDED, now, ""
            delivery.failures, delivery.next_attempt_at, delivery.lease_expires_at = 0, None, None
            delivery.last_status_code = response.status_code
            delivery.save()
            # at most every few seconds: under load every worker would otherwise queue on this one row
            Endpoint.objects.filter(pk=delivery.endpoint_id).filter(
                Q(last_success_at__isnull=True) | Q(last_success_at__lt=now - SUCCESS_MARK_EVERY)
            ).update(last_success_at=now)
            return outcome
        if not current:
            return outcome  # logged; the claim that took over decides
        delivery.failures += 1
        delivery.last_status_code = response.status_code
        delivery.last_error = (response.error or _status_error(response))[:500]
        delivery.lease_expires_at = None
        if outcome == AttemptOutcome.RETRYING:
            delay = retry_delay(delivery.failures)
            delivery.status = DeliveryStatus.PENDING
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            delivery.save()
            schema, delivery_id = connection.schema_name, delivery.pk
            _on_commit(lambda: _enqueue_attempt(schema, delivery_id, delay))
        elif _is_retryable(response):
            _give_up(delivery, now)  # failed for about a day
        else:
            # refused outright: this event failed; the endpoint too only if it is gone
            gone = response.status_code == 410
            _give_up(delivery, now, disable=gone, gone=gone)
    return outcome


def _status_error(response: transport.Response) -> str:
    code = response.status_code
    if code is None or 200 <= code < 300:
        return ""
    if 300 <= code < 400:
        return f"HTTP {code}: redirects are not followed."
    return f"HTTP {code}."


def _give_up(delivery: Delivery, now: datetime, *, disable: bool = True, gone: bool = False) -> None:
    """A delivery failed for good. With `disable`, so does the endpoint if it answered 410 Gone, or if
    nothing reached it since this delivery's first failure (it is down, not choking on one event)."""
    delivery.status, delivery.next_attempt_at, delivery.lease_expires_at = DeliveryStatus.FAILED, None, None
    delivery.save()
    if not disable:
        return
    endpoint = Endpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    if not endpoint.is_active:
        return
    first = (
        DeliveryAttempt.objects.filter(delivery=delivery, number__gt=delivery.attempts - delivery.failures)
        .order_by("number")
        .values_list("started_at", flat=True)
        .first()
    )
    if (
        not gone
        and endpoint.last_success_at is not None
        and first is not None
        and endpoint.last_success_at >= first
    ):
        return
    reason = (
        "The endpoint answered 410 Gone."
        if gone
        else f"Deliveries failed for {_span(now - (first or now))} ({delivery.failures} attempts): "
        f"{delivery.last_error}"
    )
    _disable(endpoint, reason=reason[:300], now=now, notify_admins=True)


def _span(elapsed: timedelta) -> str:
    hours = elapsed.total_seconds() / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{elapsed.total_seconds() / 60:.0f} min"


def _disable(endpoint: Endpoint, *, reason: str, now: datetime, notify_admins: bool) -> None:
    """Stop deliveries to a (locked) endpoint: its pending ones fail; admins may redeliver after enabling."""
    from tenant_apps.notifications.services import notify

    endpoint.is_active, endpoint.disabled_at, endpoint.disabled_reason = False, now, reason
    endpoint.save(update_fields=["is_active", "disabled_at", "disabled_reason", "updated_at"])
    Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED,
        next_attempt_at=None,
        last_error="The endpoint was disabled.",
        updated_at=now,
    )
    _invalidate()
    publish_on_commit("webhook.disabled", record_id=endpoint.pk, reason=reason)
    if not notify_admins:
        return
    for admin in User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk"):
        notify(
            recipient=admin,
            kind="webhook.disabled",
            title=f"Webhook endpoint disabled: {endpoint.url[:200]}",
            body=f"{reason}\n\nFix the receiver, then enable the endpoint again and redeliver what failed "
            f"(POST /api/webhooks/{endpoint.pk}/enable/).",
            data={"endpoint_id": endpoint.pk, "url": endpoint.url},
            key=f"webhook-disabled:{endpoint.pk}:{now.timestamp():.6f}",
            email=True,
        )


def delivery_attempt(*, delivery_id: int) -> str | None:
    """Make one attempt at a delivery if it is due and unclaimed; returns the attempt's outcome, or None
    when there was nothing to do (already delivered, given up, not due, or another worker holds it).
    The POST happens outside any transaction: no row stays locked while a receiver takes its time."""
    claim = _claim(delivery_id)
    if claim is None:
        return None
    response = transport.post(claim.url, claim.body, claim.headers)
    return _record(claim, response)


# ---- the sweep -----------------------------------------------------------------------------------------


def webhooks_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Re-enqueue what fell through (a job lost with Redis, a worker killed mid-delivery, a retry the
    scheduler missed) and drop events older than the retention period with their deliveries."""
    now = now or timezone.now()
    schema = connection.schema_name
    undispatched = list(
        OutboxEvent.objects.filter(dispatched_at__isnull=True, created_at__lte=now - SWEEP_GRACE)
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    stuck = list(
        Delivery.objects.filter(
            Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now - SWEEP_GRACE)
            | Q(status=DeliveryStatus.SENDING, lease_expires_at__lte=now)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    for event_id in undispatched:
        _on_commit(lambda event_id=event_id: _enqueue_dispatch(schema, str(event_id)))
    for delivery_id in stuck:
        _on_commit(lambda delivery_id=delivery_id: _enqueue_attempt(schema, delivery_id))
    expired = list(
        OutboxEvent.objects.filter(created_at__lt=now - RETENTION)
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    if expired:
        OutboxEvent.objects.filter(pk__in=expired).delete()
    return {"dispatched": len(undispatched), "retried": len(stuck), "purged": len(expired)}


# ---- endpoints -----------------------------------------------------------------------------------------


def _invalidate() -> None:
    # Now, for the rest of this transaction, and again once committed, for everyone else.
    patterns_invalidate()
    _on_commit(patterns_invalidate)


def _clean_event_types(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidInput("event_types", "A non-empty list of event types is required.")
    if len(value) > MAX_EVENT_TYPES:
        raise InvalidInput("event_types", f"At most {MAX_EVENT_TYPES} event types.")
    cleaned: set[str] = set()
    for item in value:
        if not isinstance(item, str) or not pattern_is_known(item.strip()):
            shown = str(item)[:64]
            raise InvalidInput(
                "event_types",
                f"Unknown event type {shown!r}: use one of GET /api/webhooks/event-types/, a namespace "
                'wildcard such as "lead.*", or "*".',
                code="unknown_event_type",
            )
        cleaned.add(item.strip())
    return sorted(cleaned)


def _clean_secret(value: Any) -> str:
    secret = clean_text(value, field="secret", max_length=200, required=True)
    if len(secret) < 16 or not secret.isascii() or not secret.isprintable():
        raise InvalidInput("secret", "At least 16 printable ASCII characters.")
    return secret


def _clean(changes: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "url":
            cleaned["url"] = transport.clean_url(value)
        elif key == "description":
            cleaned["description"] = clean_text(value, field="description", max_length=200)
        elif key == "event_types":
            cleaned["event_types"] = _clean_event_types(value)
        elif key == "secret":
            cleaned["secret"] = _clean_secret(value)
        elif key == "is_active":
            if not isinstance(value, bool):
                raise InvalidInput("is_active", "Expected true or false.")
            cleaned["is_active"] = value
    return cleaned


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: Endpoint
    secret: str  # shown to the admin this once


@transaction.atomic
def endpoint_create(
    *, actor: User, url: Any, event_types: Any, description: Any = "", secret: Any = None
) -> CreatedEndpoint:
    """Register an endpoint (admins only). Its URL must resolve to public addresses only (unless the
    operator allows private ones), its event types must be known; the secret is generated unless given."""
    _require_admin(actor)
    cleaned = _clean({"url": url, "event_types": event_types, "description": description})
    cleaned["secret"] = signing.new_secret() if secret is None else _clean_secret(secret)
    if Endpoint.objects.count() >= MAX_ENDPOINTS:
        raise InvalidInput("url", f"At most {MAX_ENDPOINTS} endpoints per organization.", code="too_many")
    endpoint = Endpoint.objects.create(**cleaned, created_by=actor)
    _invalidate()
    publish_on_commit("webhook.created", record_id=endpoint.pk, actor_id=actor.pk)
    return CreatedEndpoint(endpoint, cleaned["secret"])


def _locked(endpoint_id: int) -> Endpoint:
    endpoint = Endpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise EndpointNotFound(id=endpoint_id)
    return endpoint


@transaction.atomic
def endpoint_update(*, endpoint_id: int, actor: User, changes: dict[str, Any]) -> Endpoint:
    """Change an endpoint (admins only): the URL is checked again; `is_active` pauses or resumes it
    (pausing fails its pending deliveries, as an automatic disable does, without notifying anyone)."""
    _require_admin(actor)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "Unknown or read-only field.")
    cleaned = _clean(changes)
    endpoint = _locked(endpoint_id)
    changed = sorted(key for key, value in cleaned.items() if getattr(endpoint, key) != value)
    if not changed:
        return endpoint
    active = cleaned.pop("is_active", endpoint.is_active)
    for key in changed:
        if key != "is_active":
            setattr(endpoint, key, cleaned[key])
    endpoint.save()
    if active != endpoint.is_active:
        if active:
            _enable(endpoint)
        else:
            _disable(endpoint, reason="Disabled by an admin.", now=timezone.now(), notify_admins=False)
    _invalidate()
    publish_on_commit("webhook.updated", record_id=endpoint.pk, actor_id=actor.pk, fields=changed)
    return endpoint


def _enable(endpoint: Endpoint) -> None:
    endpoint.is_active, endpoint.disabled_at, endpoint.disabled_reason = True, None, ""
    endpoint.save(update_fields=["is_active", "disabled_at", "disabled_reason", "updated_at"])


@transaction.atomic
def endpoint_enable(*, endpoint_id: int, actor: User) -> Endpoint:
    """Resume deliveries to an endpoint (admins only). What failed meanwhile stays failed: redeliver it."""
    _require_admin(actor)
    endpoint = _locked(endpoint_id)
    if not endpoint.is_active:
        _enable(endpoint)
        _invalidate()
        publish_on_commit("webhook.enabled", record_id=endpoint.pk, actor_id=actor.pk)
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint_id: int, actor: User) -> None:
    """Delete an endpoint with its delivery log (admins only)."""
    _require_admin(actor)
    endpoint = _locked(endpoint_id)
    endpoint.delete()
    _invalidate()
    publish_on_commit("webhook.deleted", record_id=endpoint_id, actor_id=actor.pk)


@transaction.atomic
def delivery_redeliver(*, endpoint_id: int, delivery_id: int, actor: User) -> Delivery:
    """Send a delivery again now, with a fresh retry schedule (admins only), whatever its state but
    in flight; the endpoint must be enabled. A receiver that already has the event dedupes it by id."""
    _require_admin(actor)
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise EndpointNotFound(id=endpoint_id)
    delivery = Delivery.objects.select_for_update().filter(pk=delivery_id, endpoint=endpoint).first()
    if delivery is None:
        raise DeliveryNotFound(id=delivery_id)
    if not endpoint.is_active:
        raise EndpointDisabled(id=endpoint_id)
    now = timezone.now()
    if delivery.status == DeliveryStatus.SENDING:
        if delivery.lease_expires_at is not None and delivery.lease_expires_at > now:
            raise DeliveryInProgress(id=delivery_id)
        _abandon(delivery, now)
    delivery.status, delivery.failures, delivery.next_attempt_at = DeliveryStatus.PENDING, 0, now
    delivery.lease_expires_at = None
    delivery.save()
    schema = connection.schema_name
    _on_commit(lambda: _enqueue_attempt(schema, delivery_id))
    return delivery
