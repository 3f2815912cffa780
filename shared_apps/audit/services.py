"""Writing to the audit log: `audit_record(...)` in whatever schema is being served (an organization's log on
its host, the platform's on the root host). Callers name the action; this fills in who and from where."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.db import models
from django.http import HttpRequest
from rest_framework.request import Request

from shared_apps.audit.models import AuditEvent
from shared_apps.http.throttling import client_address


def _via(request: HttpRequest | Request | None) -> str:
    if request is None:
        return "system"
    auth = getattr(request, "auth", None)
    if auth is not None:
        return "api_key" if type(auth).__name__ == "ApiKey" else "api"
    return "api" if request.path.startswith("/api/") else "web"


def _text(value: object, limit: int) -> str:
    # PostgreSQL text and jsonb refuse NUL characters; what a client typed may hold them
    return str(value).replace("\x00", "")[:limit]


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_clean(str(key)): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def audit_record(
    action: str,
    *,
    request: HttpRequest | Request | None = None,
    actor: Any = None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: object = "",
    target_repr: str = "",
    changes: dict[str, Any] | None = None,
    via: str = "",
) -> AuditEvent:
    """Record `action`. The actor is `actor`, else the request's signed-in user (none for anonymous requests:
    a failed sign-in names the email tried in `changes`). The address is the client's as the throttles see it
    (TRUSTED_PROXIES), so a client cannot choose it."""
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if user is not None and getattr(user, "is_authenticated", False) else None
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
        target_repr = target_repr or str(target)
    ip = client_address(request) if request is not None else None
    try:
        ip = str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        ip = None
    agent = request.META.get("HTTP_USER_AGENT", "") if request is not None else ""
    return AuditEvent.objects.create(
        action=action,
        actor_id=getattr(actor, "pk", None),
        actor_email=_text(getattr(actor, "email", "") or "", 254),
        via=via or _via(request),
        ip=ip,
        user_agent=_text(agent, 300),
        target_type=_text(target_type, 64),
        target_id=_text(target_id, 64),
        target_repr=_text(target_repr, 300),
        changes=_clean(changes or {}),
    )


def sign_in_method(request: HttpRequest | Request | None) -> str:
    """How a sign-in proved who it is: "password", or what the 2FA and SSO flows set on the request."""
    return str(getattr(request, "auth_method", "password") or "password")
