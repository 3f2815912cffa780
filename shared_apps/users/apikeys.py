"""API keys for integrations: issue (shown once), authenticate, revoke."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.apps import apps
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import Forbidden, InvalidInput, NotFound
from shared_apps.core.validation import clean_text
from shared_apps.users.credentials_cache import credential_lookup, credential_touched, credentials_changed
from shared_apps.users.models import ApiKey, ApiKeyScope, User, token_digest

KEY_PREFIX = "lpk_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_resources() -> frozenset[str]:
    """The resources a key may be limited to: what the installed apps declare (`api_key_resources` on their
    AppConfig), each app for its own endpoints; RolePermission matches them against a view's `resource`."""
    return frozenset(
        resource for config in apps.get_app_configs() for resource in getattr(config, "api_key_resources", ())
    )


def api_key_create(
    *,
    actor: User,
    name: str,
    scope: str = ApiKeyScope.READ,
    resources: list[str] | None = None,
    expires_at: datetime | None = None,
    via_key: ApiKey | None = None,
    request: HttpRequest | None = None,
) -> tuple[str, ApiKey]:
    """Issue a key; returns the raw key (shown once) and its row. The admin scope is granted only by a member
    signed in themselves: through a key (`via_key`) it is refused, so no key can mint a key with more power
    than the keys a member chose to create. A key made through another key is revoked with it."""
    name = clean_text(name, field="name", max_length=200, required=True)
    if scope not in ApiKeyScope.values:
        raise InvalidInput("scope", f"Expected one of {', '.join(ApiKeyScope.values)}.")
    resources = sorted(set(resources or []))
    known = api_key_resources()
    unknown = [resource for resource in resources if resource not in known]
    if unknown:
        raise InvalidInput("resources", f"Unknown resources: {', '.join(unknown)}.")
    if scope == ApiKeyScope.ADMIN and via_key is not None:
        raise Forbidden(
            "The admin scope is granted by a member signed in themselves, not through an API key.",
            code="admin_scope_needs_member",
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expires_at", "Must be in the future.")
    prefix = secrets.token_hex(4)
    raw = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        digest=token_digest(raw),
        scope=scope,
        resources=resources,
        created_by=actor,
        created_by_key=via_key,
        expires_at=expires_at,
    )
    audit_record(
        "api_key.created",
        request=request,
        actor=actor,
        target=key,
        changes={
            "scope": scope,
            "resources": resources,
            "prefix": prefix,
            "via_key": getattr(via_key, "pk", None),
        },
    )
    return raw, key


@transaction.atomic
def api_key_revoke(*, key_id: int, request: HttpRequest | None = None) -> ApiKey:
    """Revoke a key, and every key created through it (and through those), so nothing it made outlives it.
    The revocation and the keys it took along are in the audit log."""
    key = ApiKey.objects.select_for_update().filter(pk=key_id).first()
    if key is None:
        raise NotFound("No such API key.", code="api_key_not_found")
    now = timezone.now()
    already_revoked = key.revoked_at is not None
    if not already_revoked:
        key.revoked_at = now
        key.save(update_fields=["revoked_at"])
    parents, cascaded = [key.pk], []
    while parents:
        children = list(ApiKey.objects.filter(created_by_key__in=parents).values_list("pk", flat=True))
        live = ApiKey.objects.filter(pk__in=children, revoked_at__isnull=True)
        cascaded += list(live.values_list("pk", flat=True))
        if live.update(revoked_at=now):
            credentials_changed()  # a bulk update sends no post_save: drop what the cache holds
        parents = children
    if not already_revoked or cascaded:
        audit_record(
            "api_key.revoked", request=request, target=key, changes={"also_revoked": sorted(cascaded)}
        )
    return key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer lpk_...` or `X-API-Key: lpk_...`, looked up in the current schema only.

    The request acts as the key's creator, within the key's scope (checked by RolePermission); a key stops
    working when revoked, expired, or when its creator is deactivated."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        raw = request.META.get("HTTP_X_API_KEY", "")
        if not raw:
            header = authentication.get_authorization_header(request).split()
            if (
                len(header) == 2
                and header[0].lower() == b"bearer"
                and header[1].startswith(KEY_PREFIX.encode())
            ):
                raw = header[1].decode(errors="replace")
        if not raw:
            return None
        if not raw.startswith(KEY_PREFIX) or len(raw) > 200:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        digest = token_digest(raw)
        found = credential_lookup(
            ApiKey, digest, lambda: ApiKey.objects.select_related("created_by").filter(digest=digest).first()
        )
        now = timezone.now()
        if found is None or not found[0].is_usable(now) or not found[1].is_active:
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
        key, user = found
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
            credential_touched(key, user)
        return user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
