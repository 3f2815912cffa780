"""Invitations: an admin invites an email with a role; the invitee follows a single-use, expiring link, sets a
name and password, and becomes a member with that role."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from shared_apps.core.errors import AppError, Conflict, InvalidInput, NotFound
from shared_apps.core.validation import clean_text
from shared_apps.users.exceptions import EmailTaken
from shared_apps.users.mail import organization_link, organization_name, send_account_email
from shared_apps.users.models import Invitation, Role, User, token_digest
from shared_apps.users.services import members_limit_check, user_create


class InvitationUnusable(AppError):
    """The link of an accepted, revoked or expired invitation (or of none): `status` says which."""

    status_code = 410
    code = "invitation_unusable"
    message = "This invitation can no longer be used."


def _new_token() -> tuple[str, str]:
    raw = secrets.token_urlsafe(32)
    return raw, token_digest(raw)


def _send(invitation: Invitation, raw: str, *, inviter: User | None) -> None:
    link = organization_link(f"/invitations/{raw}/")
    who = (inviter.full_name or inviter.email) if inviter is not None else "An admin"
    send_account_email(
        to=invitation.email,
        subject=f"You are invited to {organization_name()} on LeadPulse",
        body=(
            f"{who} invited you to join {organization_name()} on LeadPulse"
            f" as {invitation.get_role_display()}.\n\n"
            f"Choose your name and password here:\n{link}\n\n"
            f"The link works once and expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. "
            "If you did not expect it, ignore this email."
        ),
    )
    invitation.sent_at = timezone.now()
    invitation.save(update_fields=["sent_at"])


def _expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)


@transaction.atomic
def invitation_create(
    *, email: object, role: str, invited_by: User | None, full_name: str = ""
) -> Invitation:
    """Invite `email` with `role` and email them the link. Refused for an email that is already a member's
    (409 email_taken) or has a pending invitation (409 invitation_pending: resend that one)."""
    email = email.strip().lower() if isinstance(email, str) else ""
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput("email", "Enter a valid email address.") from None
    if role not in Role.values:
        raise InvalidInput("role", f"Unknown role; expected one of {', '.join(Role.values)}.")
    full_name = clean_text(full_name, field="full_name", max_length=200)
    if User.objects.filter(email=email).exists():
        raise EmailTaken(email=email)
    now = timezone.now()
    pending = (
        Invitation.objects.select_for_update()
        .filter(email=email, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if pending is not None:
        raise Conflict(
            "This email already has a pending invitation; resend it instead.",
            code="invitation_pending",
            invitation_id=pending.pk,
        )
    members_limit_check()
    raw, digest = _new_token()
    invitation = Invitation.objects.create(
        email=email,
        role=role,
        full_name=full_name,
        digest=digest,
        invited_by=invited_by,
        expires_at=_expiry(),
    )
    _send(invitation, raw, inviter=invited_by)
    return invitation


def _locked(invitation_id: int) -> Invitation:
    invitation = Invitation.objects.select_for_update().filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("No such invitation.", code="invitation_not_found")
    return invitation


@transaction.atomic
def invitation_resend(*, invitation_id: int, actor: User | None) -> Invitation:
    """Send a fresh link (a new token: the earlier link stops working) with a new expiry. An accepted or
    revoked invitation is not resent (409); an expired one is."""
    invitation = _locked(invitation_id)
    status = invitation.status()
    if status in ("accepted", "revoked"):
        raise Conflict(f"This invitation was {status}.", code=f"invitation_{status}")
    if User.objects.filter(email=invitation.email).exists():
        raise EmailTaken(email=invitation.email)
    raw, invitation.digest = _new_token()
    invitation.expires_at = _expiry()
    invitation.save(update_fields=["digest", "expires_at"])
    _send(invitation, raw, inviter=actor)
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation_id: int) -> Invitation:
    """The link stops working. An accepted invitation cannot be revoked (deactivate the member instead)."""
    invitation = _locked(invitation_id)
    if invitation.accepted_at is not None:
        raise Conflict(
            "This invitation was accepted: deactivate the member instead.", code="invitation_accepted"
        )
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


def invitation_for_token(raw: object) -> Invitation | None:
    """The invitation a link's token names, in this schema, whatever its status; None for no such token."""
    if not isinstance(raw, str) or not raw or len(raw) > 200:
        return None
    return Invitation.objects.filter(digest=token_digest(raw)).first()


@transaction.atomic
def invitation_accept(*, raw_token: str, full_name: object, password: object) -> tuple[Invitation, User]:
    """Create the member (the invited email and role, the name and password chosen) and mark the invitation
    used. A used, revoked or expired link (or an unknown one) is InvitationUnusable with its status."""
    found = invitation_for_token(raw_token)
    if found is None:
        raise InvitationUnusable("This invitation link is not valid.", status="invalid")
    invitation = _locked(found.pk)
    status = invitation.status()
    if status != "pending":
        raise InvitationUnusable(status=status)
    full_name = clean_text(full_name, field="full_name", max_length=200, required=True)
    if not isinstance(password, str):
        raise InvalidInput("password", "A password is required.", code="required")
    user = user_create(email=invitation.email, password=password, role=invitation.role, full_name=full_name)
    invitation.accepted_at = timezone.now()
    invitation.accepted_user = user
    invitation.save(update_fields=["accepted_at", "accepted_user"])
    return invitation, user
