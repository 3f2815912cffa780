"""Batched delivery: one job dispatches the events committed while it waited in the queue
(tenant_apps.webhooks.outbox.enqueue_dispatch) and drains each endpoint's due deliveries in the order their
events happened, over one kept-alive connection per endpoint.

- Dispatch: the events (locked) get their deliveries in one transaction per DISPATCH_BATCH events.
- Drain: one worker at a time per endpoint (a PostgreSQL advisory lock), so first attempts reach an
  endpoint in the order the events were committed. It claims up to DRAIN_BATCH due deliveries in one
  transaction (the same lease and attempt log as a single claim), POSTs them one after another (signed,
  each with its own attempt number), and records the successes of the batch in one transaction. A failure
  is recorded like a single attempt's (retry with backoff, give up, disable); a retryable one means the
  endpoint is in trouble, so the rest of the batch is handed back unsent (its attempts not counted) for
  the retries and the sweep, instead of hammering a receiver that is down.
- A worker killed mid-batch leaves the batch's claims to expire: the sweep takes them over after the lease
  (at least once, as for a single delivery). A job that raises hands its unsent claims back first.

Retries, redeliveries and the sweep's catch-up stay single deliveries (tenant_apps.webhooks.delivery).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from shared_apps.core.db import connection
from tenant_apps.webhooks import signing, transport
from tenant_apps.webhooks.delivery import (
    LEASE,
    SUCCESS_MARK_EVERY,
    USER_AGENT,
    Claim,
    _is_retryable,
    _record,
)
from tenant_apps.webhooks.models import (
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Endpoint,
    OutboxEvent,
)

DISPATCH_BATCH = 500
DRAIN_BATCH = 200
# A batch is re-claimed (its unsent rest handed back) once it has been sending this long, well inside the
# lease, so the sweep never takes over a claim this worker is still going to send.
RECLAIM_AFTER = LEASE.total_seconds() / 3


def outbox_dispatch(*, event_ids: list[str]) -> list[int]:
    """Create the deliveries of the events (to each active endpoint subscribed to its type that existed
    when it happened), once. Returns the endpoints that got deliveries."""
    endpoints_hit: set[int] = set()
    for start in range(0, len(event_ids), DISPATCH_BATCH):
        now = timezone.now()
        with transaction.atomic():
            # waits for a worker dispatching the same events (the sweep's catch-up), in one order for all
            events = list(
                OutboxEvent.objects.select_for_update()
                .filter(pk__in=event_ids[start : start + DISPATCH_BATCH], dispatched_at__isnull=True)
                .order_by("created_at", "pk")
            )
            if not events:
                continue
            endpoints = list(Endpoint.objects.filter(is_active=True).order_by("pk"))
            deliveries = [
                Delivery(endpoint=endpoint, event=event, next_attempt_at=now, created_at=now)
                for event in events
                for endpoint in endpoints
                if endpoint.created_at <= event.created_at and endpoint.subscribes_to(event.topic)
            ]
            Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
            OutboxEvent.objects.filter(pk__in=[event.pk for event in events]).update(dispatched_at=now)
            endpoints_hit.update(delivery.endpoint_id for delivery in deliveries)
    return sorted(endpoints_hit)


def _lock_key(endpoint_id: int) -> tuple[int, int]:
    # advisory locks are database-wide: the schema is part of the key
    schema = zlib.crc32(connection.schema_name.encode()) - 2**31
    return schema, endpoint_id % 2**31


@contextmanager
def _endpoint_lock(endpoint_id: int) -> Iterator[bool]:
    """True when this session now drains the endpoint; False when another one does."""
    key = _lock_key(endpoint_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
            except DatabaseError:
                # the session is broken: closing it (at the job's end) releases the lock
                pass


@dataclass(frozen=True)
class BatchClaim:
    claim: Claim
    attempt_id: int


def _due(endpoint_id: int, now: object) -> Q:
    return Q(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)


def _claim_batch(endpoint_id: int) -> list[BatchClaim]:
    """Up to DRAIN_BATCH due deliveries of an active endpoint, oldest event first, claimed for one attempt
    each (status sending, a lease, an attempt row), as `delivery._claim` does for one."""
    now = timezone.now()
    with transaction.atomic():
        endpoint = Endpoint.objects.filter(pk=endpoint_id, is_active=True).first()
        if endpoint is None:
            return []
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event")
            .filter(_due(endpoint_id, now))
            .order_by("event__created_at", "pk")[:DRAIN_BATCH]
        )
        if not rows:
            return []
        Delivery.objects.filter(pk__in=[row.pk for row in rows]).update(
            attempts=F("attempts") + 1,
            status=DeliveryStatus.SENDING,
            lease_expires_at=now + LEASE,
            updated_at=now,
        )
        attempts = DeliveryAttempt.objects.bulk_create(
            [DeliveryAttempt(delivery_id=row.pk, number=row.attempts + 1, started_at=now) for row in rows]
        )
    timestamp = int(time.time())
    claims = []
    for row, attempt in zip(rows, attempts, strict=True):
        body = signing.body_of(row.event.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signing.EVENT_ID_HEADER: str(row.event_id),
            signing.EVENT_TYPE_HEADER: row.event.topic,
            signing.DELIVERY_HEADER: str(row.pk),
            signing.ATTEMPT_HEADER: str(attempt.number),
            signing.SIGNATURE_HEADER: signing.signature_header(endpoint.secret, timestamp, body),
        }
        claim = Claim(row.pk, attempt.number, endpoint.url, body, headers)
        claims.append(BatchClaim(claim, attempt.pk))
    return claims


def _hand_back(claims: list[BatchClaim]) -> None:
    """Unsent claims: as if never claimed (their attempt rows go, their attempt count goes back). A claim
    another worker has taken over since is left alone."""
    if not claims:
        return
    with transaction.atomic():
        for batch_claim in claims:
            claim = batch_claim.claim
            taken = Delivery.objects.filter(
                pk=claim.delivery_id, status=DeliveryStatus.SENDING, attempts=claim.number
            ).update(
                status=DeliveryStatus.PENDING,
                attempts=F("attempts") - 1,
                lease_expires_at=None,
                updated_at=timezone.now(),
            )
            if taken:
                DeliveryAttempt.objects.filter(pk=batch_claim.attempt_id, outcome="").delete()
        # an endpoint disabled meanwhile fails what is pending (as disable_endpoint did for the rest)
        Delivery.objects.filter(
            pk__in=[batch_claim.claim.delivery_id for batch_claim in claims],
            status=DeliveryStatus.PENDING,
            endpoint__is_active=False,
        ).update(status=DeliveryStatus.FAILED, next_attempt_at=None, last_error="The endpoint was disabled.")


_ATTEMPTS_SUCCEEDED = (
    f"UPDATE {DeliveryAttempt._meta.db_table} AS attempt "  # noqa: S608 (a model's table name)
    "SET outcome = %s, finished_at = %s, status_code = answer.status_code, latency_ms = answer.latency_ms, "
    "response_excerpt = answer.excerpt, error = '' "
    "FROM unnest(%s::bigint[], %s::integer[], %s::integer[], %s::text[]) "
    "AS answer(id, status_code, latency_ms, excerpt) WHERE attempt.id = answer.id"
)


def _record_successes(endpoint_id: int, sent: list[tuple[BatchClaim, transport.Response]]) -> None:
    """The batch's successes in one transaction: each delivery succeeded once (whoever's claim it was),
    each attempt's answer logged."""
    if not sent:
        return
    now = timezone.now()
    with transaction.atomic():
        by_code: dict[int | None, list[int]] = {}
        for batch_claim, response in sent:
            by_code.setdefault(response.status_code, []).append(batch_claim.claim.delivery_id)
        for code, ids in by_code.items():
            Delivery.objects.filter(pk__in=ids).exclude(status=DeliveryStatus.SUCCEEDED).update(
                status=DeliveryStatus.SUCCEEDED,
                delivered_at=now,
                last_error="",
                failures=0,
                next_attempt_at=None,
                lease_expires_at=None,
                last_status_code=code,
                updated_at=now,
            )
        # one UPDATE joined to the answers (bulk_update's CASE per row and field cost ~3 ms a delivery)
        with connection.cursor() as cursor:
            cursor.execute(
                _ATTEMPTS_SUCCEEDED,
                [
                    AttemptOutcome.SUCCEEDED.value,
                    now,
                    [batch_claim.attempt_id for batch_claim, _ in sent],
                    [response.status_code for _, response in sent],
                    [response.latency_ms for _, response in sent],
                    [response.excerpt for _, response in sent],
                ],
            )
        Endpoint.objects.filter(pk=endpoint_id).filter(
            Q(last_success_at__isnull=True) | Q(last_success_at__lt=now - SUCCESS_MARK_EVERY)
        ).update(last_success_at=now)


def _send(endpoint_id: int, claims: list[BatchClaim], outcomes: dict[int, str | None]) -> bool:
    """POST the claims in order; True when the endpoint is in trouble (stop draining it)."""
    started = time.monotonic()
    sent: list[tuple[BatchClaim, transport.Response]] = []
    begun = 0  # claims whose POST started: the receiver may have them, they are never handed back
    trouble = False
    try:
        for batch_claim in claims:
            if time.monotonic() - started > RECLAIM_AFTER:
                break
            claim = batch_claim.claim
            begun += 1
            response = transport.post(claim.url, claim.body, claim.headers)
            code = response.status_code
            if code is not None and 200 <= code < 300:
                sent.append((batch_claim, response))
                outcomes[claim.delivery_id] = AttemptOutcome.SUCCEEDED
                continue
            _record_successes(endpoint_id, sent)  # in order, before this failure's outcome
            sent = []
            outcomes[claim.delivery_id] = _record(claim, response)
            if _is_retryable(response) or code == 410:
                trouble = True
                break
    finally:
        _record_successes(endpoint_id, sent)
        _hand_back(claims[begun:])
    return trouble


def endpoint_drain(*, endpoint_id: int) -> dict[int, str | None]:
    """Send the endpoint's due deliveries, oldest event first, in batches; returns each one's outcome.
    Does nothing when another worker is draining the endpoint (it sends what is due when done)."""
    outcomes: dict[int, str | None] = {}
    while True:
        with _endpoint_lock(endpoint_id) as held:
            if not held:
                return outcomes
            while claims := _claim_batch(endpoint_id):
                if _send(endpoint_id, claims, outcomes):
                    return outcomes
        # what was committed while the lock was held and found it taken is this drain's to send
        if not Delivery.objects.filter(_due(endpoint_id, timezone.now())).exists():
            return outcomes


def outbox_deliver(*, event_ids: list[str]) -> dict[int, str | None]:
    """Dispatch the events, then drain every endpoint with due deliveries."""
    outbox_dispatch(event_ids=event_ids)
    now = timezone.now()
    endpoint_ids = (
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .values_list("endpoint_id", flat=True)
        .distinct()
        .order_by("endpoint_id")
    )
    outcomes: dict[int, str | None] = {}
    for endpoint_id in list(endpoint_ids):
        outcomes.update(endpoint_drain(endpoint_id=endpoint_id))
    return outcomes
