"""rq entry points. Functions under tenant_apps run in the schema their job was enqueued for (see
shared_apps.organizations.jobs); each calls services and is safe to run twice (rq delivers at least once): a
delivery is claimed under a row lock with a lease, and one already delivered is not sent again."""

from __future__ import annotations

from shared_apps.core.db import connection
from tenant_apps.webhooks import batches, delivery, outbox


def deliver_event(event_id: str) -> dict[int, str | None]:
    """After a change commits (one job per organization at a time, not one per event): create the
    deliveries of `event_id` and of the events committed while this job waited in the queue, and drain each
    endpoint with due deliveries in batches (tenant_apps.webhooks.batches)."""
    waiting = outbox.waiting_events(connection.schema_name, event_id)  # later commits enqueue a new job
    outcomes = batches.outbox_deliver(event_ids=waiting)
    # plain strings in rq's stored result, not the model's enum
    return {delivery: None if outcome is None else str(outcome) for delivery, outcome in outcomes.items()}


def deliver_attempt(delivery_id: int) -> str | None:
    """A retry (scheduled with backoff), a redelivery, or the sweep's catch-up of a stuck delivery."""
    return delivery.delivery_attempt(delivery_id=delivery_id)


def webhooks_sweep() -> dict[str, int]:
    """Every minute for every active organization (config/cron.py)."""
    return delivery.webhooks_sweep()
