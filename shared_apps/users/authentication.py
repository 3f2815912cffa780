from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from shared_apps.core.errors import Forbidden
from shared_apps.users.credentials_cache import credential_lookup, credential_touched
from shared_apps.users.models import AuthToken, User, is_support_member, token_digest

# Writing last_used_at on every request would turn each read into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`, looked up in the current schema only.

    Tokens live in the schema of the organization (or the public schema for operators) that issued
    them, so a token from acme is simply unknown on globex's host.
    """

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[User, AuthToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.encode():
            return None
        if len(header) == 2 and header[1].startswith(b"lpk_"):
            return None  # an API key: ApiKeyAuthentication's
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: expected 'Bearer <token>'."
            )
        try:
            raw = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        digest = token_digest(raw)
        found = credential_lookup(
            AuthToken, digest, lambda: AuthToken.objects.select_related("user").filter(digest=digest).first()
        )
        now = timezone.now()
        if found is None or found[0].is_expired(now) or not found[1].is_active:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        token, user = found
        if is_support_member(user) and request.method not in permissions.SAFE_METHODS:
            raise Forbidden("Support access is read-only.", code="support_read_only")
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            AuthToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
            credential_touched(token, user)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
