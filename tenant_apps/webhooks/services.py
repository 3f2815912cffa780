"""Every write on webhook endpoints (admins only): create, change, enable, delete, and sending a delivery
again. The outbox and deliveries are in tenant_apps.webhooks.outbox and tenant_apps.webhooks.delivery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from shared_apps.audit.services import audit_record
from shared_apps.core.db import connection
from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_text
from shared_apps.organizations.context import plan_limit_check
from shared_apps.users.models import Role, User
from tenant_apps.webhooks import signing, transport
from tenant_apps.webhooks.delivery import abandon, disable_endpoint
from tenant_apps.webhooks.exceptions import (
    DeliveryInProgress,
    DeliveryNotFound,
    EndpointDisabled,
    EndpointNotFound,
    WebhooksAdminOnly,
)
from tenant_apps.webhooks.models import Delivery, DeliveryStatus, Endpoint, pattern_is_known
from tenant_apps.webhooks.outbox import enqueue_attempt, invalidate_patterns, on_commit

MAX_ENDPOINTS = 50
MAX_EVENT_TYPES = 50
EDITABLE_FIELDS = ("url", "description", "event_types", "secret", "is_active")


def _require_admin(actor: User) -> None:
    if actor.role != Role.ADMIN:
        raise WebhooksAdminOnly()


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


# A URL may carry a token (in its path or query) and the secret is one: the audit log names only their change.
_UNSHOWN = ("url", "secret")


def _host(endpoint: Endpoint) -> str:
    return urlsplit(endpoint.url).hostname or ""


def _shown(field: str, before: Any, after: Any) -> Any:
    return "changed" if field in _UNSHOWN else [before, after]


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: Endpoint
    secret: str  # shown to the admin this once


@transaction.atomic
def endpoint_create(
    *,
    actor: User,
    url: Any,
    event_types: Any,
    description: Any = "",
    secret: Any = None,
    request: HttpRequest | None = None,
) -> CreatedEndpoint:
    """Register an endpoint (admins only). Its URL must resolve to public addresses only (unless the
    operator allows private ones), its event types must be known; the secret is generated unless given."""
    _require_admin(actor)
    cleaned = _clean({"url": url, "event_types": event_types, "description": description})
    cleaned["secret"] = signing.new_secret() if secret is None else _clean_secret(secret)
    if Endpoint.objects.count() >= MAX_ENDPOINTS:
        raise InvalidInput("url", f"At most {MAX_ENDPOINTS} endpoints per organization.", code="too_many")
    plan_limit_check("webhook_endpoints", current=Endpoint.objects.count())
    endpoint = Endpoint.objects.create(**cleaned, created_by=actor)
    invalidate_patterns()
    publish_on_commit("webhook.created", record_id=endpoint.pk, actor_id=actor.pk)
    audit_record(
        "webhook.created",
        request=request,
        actor=actor,
        target=endpoint,
        target_repr=_host(endpoint),
        changes={"event_types": endpoint.event_types},
    )
    return CreatedEndpoint(endpoint, cleaned["secret"])


@transaction.atomic
def endpoint_create_disabled(
    *, actor: User, url: Any, event_types: Any, description: Any = "", reason: str
) -> CreatedEndpoint:
    """Register an endpoint that starts disabled (admins only), for a receiver that does not exist yet (the
    demo's). Its URL is checked for shape only, not resolved: a disabled endpoint gets no deliveries, and
    every delivery after enabling resolves and checks the address again."""
    _require_admin(actor)
    try:
        transport.parse(url)
    except transport.AddressRefused as refused:
        raise InvalidInput("url", refused.message, code=refused.code) from None
    cleaned = _clean({"event_types": event_types, "description": description})
    secret = signing.new_secret()
    if Endpoint.objects.count() >= MAX_ENDPOINTS:
        raise InvalidInput("url", f"At most {MAX_ENDPOINTS} endpoints per organization.", code="too_many")
    endpoint = Endpoint.objects.create(
        **cleaned,
        url=str(url),
        secret=secret,
        created_by=actor,
        is_active=False,
        disabled_at=timezone.now(),
        disabled_reason=reason[:300],
    )
    invalidate_patterns()
    publish_on_commit("webhook.created", record_id=endpoint.pk, actor_id=actor.pk)
    return CreatedEndpoint(endpoint, secret)


def _locked(endpoint_id: int) -> Endpoint:
    endpoint = Endpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise EndpointNotFound(id=endpoint_id)
    return endpoint


@transaction.atomic
def endpoint_update(
    *, endpoint_id: int, actor: User, changes: dict[str, Any], request: HttpRequest | None = None
) -> Endpoint:
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
    audited = {key: _shown(key, getattr(endpoint, key), cleaned[key]) for key in changed}
    active = cleaned.pop("is_active", endpoint.is_active)
    for key in changed:
        if key != "is_active":
            setattr(endpoint, key, cleaned[key])
    endpoint.save()
    if active != endpoint.is_active:
        if active:
            _enable(endpoint)
        else:
            disable_endpoint(
                endpoint, reason="Disabled by an admin.", now=timezone.now(), notify_admins=False
            )
    invalidate_patterns()
    publish_on_commit("webhook.updated", record_id=endpoint.pk, actor_id=actor.pk, fields=changed)
    audit_record(
        "webhook.updated",
        request=request,
        actor=actor,
        target=endpoint,
        target_repr=_host(endpoint),
        changes=audited,
    )
    return endpoint


def _enable(endpoint: Endpoint) -> None:
    endpoint.is_active, endpoint.disabled_at, endpoint.disabled_reason = True, None, ""
    endpoint.save(update_fields=["is_active", "disabled_at", "disabled_reason", "updated_at"])


@transaction.atomic
def endpoint_enable(*, endpoint_id: int, actor: User, request: HttpRequest | None = None) -> Endpoint:
    """Resume deliveries to an endpoint (admins only). What failed meanwhile stays failed: redeliver it."""
    _require_admin(actor)
    endpoint = _locked(endpoint_id)
    if not endpoint.is_active:
        _enable(endpoint)
        invalidate_patterns()
        publish_on_commit("webhook.enabled", record_id=endpoint.pk, actor_id=actor.pk)
        audit_record(
            "webhook.updated",
            request=request,
            actor=actor,
            target=endpoint,
            target_repr=_host(endpoint),
            changes={"is_active": [False, True]},
        )
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint_id: int, actor: User, request: HttpRequest | None = None) -> None:
    """Delete an endpoint with its delivery log (admins only)."""
    _require_admin(actor)
    endpoint = _locked(endpoint_id)
    audit_record(
        "webhook.deleted", request=request, actor=actor, target=endpoint, target_repr=_host(endpoint)
    )
    endpoint.delete()
    invalidate_patterns()
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
        abandon(delivery, now)
    delivery.status, delivery.failures, delivery.next_attempt_at = DeliveryStatus.PENDING, 0, now
    delivery.lease_expires_at = None
    delivery.save()
    schema = connection.schema_name
    on_commit(lambda: enqueue_attempt(schema, delivery_id))
    return delivery
