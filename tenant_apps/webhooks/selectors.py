"""Reads on webhooks. Endpoints hold secrets and send the organization's data out: admins only."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.cache import cache
from django.db.models import Prefetch, QuerySet

from shared_apps.organizations.context import cache_changed, cache_get, generation_memo, kept_in_process
from shared_apps.users.models import Role, User
from tenant_apps.webhooks.exceptions import DeliveryNotFound, EndpointNotFound, WebhooksAdminOnly
from tenant_apps.webhooks.models import Delivery, DeliveryAttempt, Endpoint

logger = logging.getLogger(__name__)

# The event types the organization's active endpoints subscribe to, read inside every publishing
# transaction. Keys of the default cache carry the schema, so this is per organization. Entries live
# under a generation that every endpoint change replaces: a reader racing a change can only fill an
# entry nobody reads any more, never bring a stale list back.
GENERATION_KEY = "webhooks:patterns:generation"
kept_in_process(GENERATION_KEY)  # every change published asks which events endpoints listen to
PATTERNS_TTL = 3600


def _require_admin(actor: User) -> None:
    if actor.role != Role.ADMIN:
        raise WebhooksAdminOnly()


def endpoint_list(*, actor: User) -> QuerySet[Endpoint]:
    _require_admin(actor)
    return Endpoint.objects.all()


def endpoint_get(*, actor: User, endpoint_id: int) -> Endpoint:
    _require_admin(actor)
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise EndpointNotFound(id=endpoint_id)
    return endpoint


def delivery_list(
    *, actor: User, endpoint_id: int, filters: dict[str, Any] | None = None
) -> QuerySet[Delivery]:
    """An endpoint's delivery log, each delivery with its event and every attempt (two queries a page)."""
    endpoint = endpoint_get(actor=actor, endpoint_id=endpoint_id)
    deliveries = (
        Delivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related(Prefetch("log", queryset=DeliveryAttempt.objects.order_by("number")))
    )
    filters = filters or {}
    if filters.get("status"):
        deliveries = deliveries.filter(status=filters["status"])
    if filters.get("event_type"):
        deliveries = deliveries.filter(event__topic=filters["event_type"])
    return deliveries


def delivery_get(*, actor: User, endpoint_id: int, delivery_id: int) -> Delivery:
    delivery = delivery_list(actor=actor, endpoint_id=endpoint_id).filter(pk=delivery_id).first()
    if delivery is None:
        raise DeliveryNotFound(id=delivery_id)
    return delivery


def _patterns_from_database() -> list[str]:
    rows = Endpoint.objects.filter(is_active=True).values_list("event_types", flat=True)
    return sorted({pattern for event_types in rows for pattern in event_types})


def _patterns_load(key: str) -> list[str]:
    patterns: list[str] | None = cache.get(key)
    if patterns is None:
        patterns = _patterns_from_database()
        cache.set(key, patterns, timeout=PATTERNS_TTL)
    return patterns


def subscribed_patterns() -> list[str]:
    """Every event type (or wildcard) an active endpoint of this organization subscribes to."""
    try:
        generation = cache_get(GENERATION_KEY)  # the process's copy when warm
        if generation is None:
            generation = uuid.uuid4().hex
            if not cache.add(GENERATION_KEY, generation, timeout=None):
                generation = cache.get(GENERATION_KEY, generation)
        key = f"webhooks:patterns:{generation}"
        # patterns under a generation never change: the process keeps them (a new generation for every change)
        return list(generation_memo(key, lambda: _patterns_load(key)))
    except Exception:  # the cache is an optimization: never fail the change being published for it
        logger.warning("webhooks: topic cache unavailable, reading endpoints", exc_info=True)
        return _patterns_from_database()


def patterns_invalidate() -> None:
    try:
        cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
        cache_changed(GENERATION_KEY)
    except Exception:
        logger.warning("webhooks: could not invalidate the topic cache", exc_info=True)
