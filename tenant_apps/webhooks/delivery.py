"""Deliveries: one attempt (claimed under a row lock with a lease, POSTed signed, its outcome recorded,
retried with backoff or given up), and the sweep that re-enqueues what a lost job or a killed worker left.

The path of an event is described in tenant_apps.webhooks.outbox."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from shared_apps.core.db import connection
from shared_apps.core.events import publish_on_commit
from shared_apps.users.models import Role, User
from tenant_apps.webhooks import signing, transport
from tenant_apps.webhooks.models import (
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Endpoint,
    OutboxEvent,
)
from tenant_apps.webhooks.outbox import (
    enqueue_attempt,
    enqueue_dispatch,
    invalidate_patterns,
    on_commit,
)

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
USER_AGENT = "LeadPulse-Webhooks/1.0"


def retry_delay(failures: int) -> float:
    """Seconds before the next attempt after `failures` failed ones (1-based), jitter included."""
    base = RETRY_DELAYS[min(failures, len(RETRY_DELAYS)) - 1]
    return base * (1 + random.uniform(0, RETRY_JITTER))


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
            abandon(delivery, now)
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


def abandon(delivery: Delivery, now: datetime) -> None:
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
            on_commit(lambda: enqueue_attempt(schema, delivery_id, delay))
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
    disable_endpoint(endpoint, reason=reason[:300], now=now, notify_admins=True)


def _span(elapsed: timedelta) -> str:
    hours = elapsed.total_seconds() / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{elapsed.total_seconds() / 60:.0f} min"


def disable_endpoint(endpoint: Endpoint, *, reason: str, now: datetime, notify_admins: bool) -> None:
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
    invalidate_patterns()
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
    if undispatched:  # one job dispatches them all
        on_commit(lambda: enqueue_dispatch(schema, *map(str, undispatched), coalesce=False))
    for delivery_id in stuck:
        on_commit(lambda delivery_id=delivery_id: enqueue_attempt(schema, delivery_id))
    expired = list(
        OutboxEvent.objects.filter(created_at__lt=now - RETENTION)
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    if expired:
        OutboxEvent.objects.filter(pk__in=expired).delete()
    return {"dispatched": len(undispatched), "retried": len(stuck), "purged": len(expired)}
