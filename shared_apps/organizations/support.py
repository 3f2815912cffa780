"""Support access: an operator opens an organization as a read-only member for a limited time, with a reason.

Opening creates a viewer member of its own in the organization (an address under SUPPORT_EMAIL_SUFFIX, no
password) and a bearer token expiring with the session; requests signed in with it may only read (any other
method: 403 support_read_only, shared_apps.users.authentication) and see what a viewer sees. The opening is
recorded in the platform's audit log and in the organization's, and the organization's admins see the sessions
(`GET /api/settings/support-access/`). Ending a session (or its expiry) ends the token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import Conflict, InvalidInput, NotFound
from shared_apps.organizations.models import Organization, SupportSession
from shared_apps.users.models import SUPPORT_EMAIL_SUFFIX, AuthToken, Role, User, token_digest

SUPPORT_MAX_MINUTES = 240
SUPPORT_DEFAULT_MINUTES = 60
MIN_REASON = 10


@dataclass
class OpenedSession:
    session: SupportSession
    token: str  # shown to the operator this once
    host: str


def _clean(reason: Any, minutes: Any) -> tuple[str, int]:
    if not isinstance(reason, str) or len(reason.strip()) < MIN_REASON:
        raise InvalidInput("reason", f"Say why, in at least {MIN_REASON} characters.", code="required")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= SUPPORT_MAX_MINUTES:
        raise InvalidInput("minutes", f"From 1 to {SUPPORT_MAX_MINUTES} minutes.")
    return reason.strip()[:2000], minutes


def support_session_open(
    *,
    organization: Organization,
    operator: User,
    reason: Any,
    minutes: Any = SUPPORT_DEFAULT_MINUTES,
    request: HttpRequest | None = None,
) -> OpenedSession:
    """Open a read-only visit of at most SUPPORT_MAX_MINUTES to an active organization, with a reason."""
    from shared_apps.organizations.context import organization_context
    from shared_apps.organizations.services import platform_audit

    reason, minutes = _clean(reason, minutes)
    if not organization.is_active:
        raise Conflict("Only an active organization can be opened.", code="organization_not_active")
    expires_at = timezone.now() + timedelta(minutes=minutes)
    raw = "lps_" + secrets.token_urlsafe(32)
    with organization_context(organization), transaction.atomic():
        member = User.objects.create_user(
            f"support-{secrets.token_hex(6)}{SUPPORT_EMAIL_SUFFIX}",
            None,
            role=Role.VIEWER,
            full_name=f"LeadPulse support ({operator.email})"[:200],
        )
        AuthToken.objects.create(digest=token_digest(raw), user=member, expires_at=expires_at)
        changes = {"operator": operator.email, "reason": reason, "expires_at": expires_at.isoformat()}
        audit_record("support.opened", request=request, actor=operator, target=member, changes=changes)
    with schema_context(get_public_schema_name()):
        session = SupportSession.objects.create(
            organization=organization,
            operator_id=operator.pk,
            operator_email=operator.email,
            reason=reason,
            member_id=member.pk,
            expires_at=expires_at,
        )
    platform_audit("support.opened", organization=organization, request=request, changes=changes)
    return OpenedSession(session, raw, f"{organization.slug}.{settings.BASE_DOMAIN}")


def support_session_end(
    *, organization: Organization, session_id: int, request: HttpRequest | None = None
) -> SupportSession:
    """End a session before it expires: its member is deactivated and its token removed."""
    from shared_apps.organizations.context import organization_context
    from shared_apps.organizations.services import platform_audit

    with schema_context(get_public_schema_name()):
        session = SupportSession.objects.filter(pk=session_id, organization=organization).first()
    if session is None:
        raise NotFound("No such support session.", code="support_session_not_found", id=session_id)
    if session.ended_at is None:
        with organization_context(organization), transaction.atomic():
            AuthToken.objects.filter(user_id=session.member_id).delete()
            User.objects.filter(pk=session.member_id).update(is_active=False)
            audit_record(
                "support.ended",
                request=request,
                actor=None,
                target_type="users.user",
                target_id=session.member_id,
                changes={"operator": session.operator_email},
            )
        with schema_context(get_public_schema_name()):
            session.ended_at = timezone.now()
            session.save(update_fields=["ended_at"])
        platform_audit(
            "support.ended", organization=organization, request=request, changes={"session": session.pk}
        )
    return session


def support_sessions_of(organization: Organization, *, limit: int = 50) -> list[SupportSession]:
    """The organization's support sessions, newest first (the public schema)."""
    with schema_context(get_public_schema_name()):
        return list(SupportSession.objects.filter(organization=organization).order_by("-created_at")[:limit])
