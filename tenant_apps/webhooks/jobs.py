"""rq entry points. Functions under tenant_apps run in the schema their job was enqueued for (see
shared_apps.organizations.jobs); each calls services and is safe to run twice (rq delivers at least once): a
delivery is claimed under a row lock with a lease, and one already delivered is not sent again."""

from __future__ import annotations

from tenant_apps.webhooks import delivery


def deliver_event(event_id: str) -> dict[int, str | None]:
    """After the change commits: create the event's deliveries (once) and attempt each of them."""
    return delivery.event_deliver(event_id=event_id)


def deliver_attempt(delivery_id: int) -> str | None:
    """A retry (scheduled with backoff), a redelivery, or the sweep's catch-up of a stuck delivery."""
    return delivery.delivery_attempt(delivery_id=delivery_id)


def webhooks_sweep() -> dict[str, int]:
    """Every minute for every active organization (config/cron.py)."""
    return delivery.webhooks_sweep()
