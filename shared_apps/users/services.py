from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.request import Request

from shared_apps.audit.services import audit_record, sign_in_method
from shared_apps.core.errors import Conflict, InvalidInput, NotFound
from shared_apps.core.validation import clean_text
from shared_apps.mfa.services import second_factor_check
from shared_apps.organizations.limits import plan_limit_check
from shared_apps.users.exceptions import EmailTaken, InvalidCredentials
from shared_apps.users.models import SUPPORT_EMAIL_SUFFIX, AuthToken, Invitation, Role, User, token_digest
from shared_apps.users.policies import password_sign_in_check
from shared_apps.users.signals import credentials_revoked

TOKEN_PREFIX = "lpt_"  # noqa: S105 (a prefix that makes leaked tokens recognizable, not a secret)


def user_create(
    *, email: str, password: str, role: str = Role.REP, full_name: str = "", is_staff: bool = False
) -> User:
    """Create a user in the current schema. Emails are unique per schema, compared case-insensitively."""
    email = validate_new_credentials(email=email, password=password, full_name=full_name)
    if role not in Role.values:
        raise InvalidInput("role", f"Unknown role {role!r}; expected one of {', '.join(Role.values)}.")
    if User.objects.filter(email=email).exists():
        raise EmailTaken(email=email)
    return User.objects.create_user(email, password, role=role, full_name=full_name, is_staff=is_staff)


def token_issue(
    *,
    email: str,
    password: str,
    require_staff: bool = False,
    otp: str | None = None,
    recovery_code: str | None = None,
    request: HttpRequest | Request | None = None,
) -> tuple[str, AuthToken]:
    """Sign in: return a new raw token (shown once) for valid credentials of an active user in this schema,
    and the second factor (`otp` or `recovery_code`) when the user has one (shared_apps.mfa). Every outcome
    is in the audit log (a refused password through authenticate's signal): no transaction here, so a
    refusal does not roll its record back."""
    email = (email or "").strip().lower()
    user = authenticate(request, username=email, password=password or "")
    if user is not None and (not user.is_active or (require_staff and not user.is_staff)):
        audit_record("sign_in.failed", request=request, changes={"email": email, "method": "password"})
        user = None
    if user is None:
        raise InvalidCredentials()
    password_sign_in_check(user)  # e.g. an organization that requires single sign-on
    method = second_factor_check(user=user, otp=otp, recovery_code=recovery_code, request=request)
    return _token_create(user, request=request, method=method or sign_in_method(request))


@transaction.atomic
def _token_create(user: User, *, request: HttpRequest | Request | None, method: str) -> tuple[str, AuthToken]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ttl = settings.AUTH_TOKEN_TTL_DAYS
    token = AuthToken.objects.create(
        digest=token_digest(raw),
        user=user,
        expires_at=timezone.now() + timedelta(days=ttl) if ttl else None,
    )
    audit_record(
        "sign_in.succeeded",
        request=request,
        actor=user,
        changes={"method": method, "token": True},
    )
    return raw, token


def token_revoke(*, token: AuthToken) -> None:
    token.delete()
    credentials_revoked.send(sender=AuthToken, user_id=token.user_id)


def tokens_purge_expired() -> int:
    """Delete expired tokens of the current schema; returns how many. Safe to run twice."""
    deleted, _ = AuthToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def validate_new_credentials(
    *, email: object, password: object, full_name: str = "", fields: tuple[str, str] = ("email", "password")
) -> str:
    """Check an email and password for a new user; returns the normalized email.

    `fields` names the input fields in errors (provisioning calls them admin_email / admin_password)."""
    email_field, password_field = fields
    email = (email or "").strip().lower() if isinstance(email, str) else ""
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(email_field, "Enter a valid email address.") from None
    if not isinstance(password, str) or not password:
        raise InvalidInput(password_field, "A password is required.", code="required")
    try:
        validate_password(password, User(email=email, full_name=full_name))
    except ValidationError as exc:
        raise InvalidInput(password_field, " ".join(exc.messages), code="weak_password") from None
    return email


def members_limit_check() -> None:
    """Refuse a new member or invitation past the plan's `members` limit (402 plan_limit_reached). Pending
    invitations count: each may become a member without asking again."""
    now = timezone.now()
    live = Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)
    members = User.objects.filter(is_active=True).exclude(email__endswith=SUPPORT_EMAIL_SUFFIX)
    plan_limit_check("members", current=members.count() + live.count())


def member_invite(*, email: str, role: str, full_name: str = "", password: str | None = None) -> User:
    """Add a member to the current organization at once (scripts, the demo seed, `POST /api/members/` with a
    password). Without a password the account cannot sign in until one is set (an unusable password); members
    invited by email go through shared_apps.users.invitations instead."""
    members_limit_check()
    if password:
        return user_create(email=email, password=password, role=role, full_name=full_name)
    email = (email or "").strip().lower() if isinstance(email, str) else ""
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput("email", "Enter a valid email address.") from None
    if role not in Role.values:
        raise InvalidInput("role", f"Unknown role; expected one of {', '.join(Role.values)}.")
    if User.objects.filter(email=email).exists():
        raise EmailTaken(email=email)
    return User.objects.create_user(email, None, role=role, full_name=full_name)


def _other_active_admins(user: User) -> bool:
    return User.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=user.pk).exists()


@transaction.atomic
def member_update(
    *,
    member_id: int,
    role: str | None = None,
    full_name: str | None = None,
    request: HttpRequest | None = None,
) -> User:
    """Change a member's role or name. The organization always keeps at least one active admin. A role
    change is in the audit log (`request`: who asked, from where)."""
    user = User.objects.select_for_update().filter(pk=member_id).first()
    if user is None:
        raise NotFound("No such member.", code="member_not_found")
    previous_role = user.role
    if role is not None:
        if role not in Role.values:
            raise InvalidInput("role", f"Unknown role; expected one of {', '.join(Role.values)}.")
        if user.role == Role.ADMIN and role != Role.ADMIN and not _other_active_admins(user):
            raise Conflict("The last admin cannot be demoted.", code="last_admin")
        user.role = role
    if full_name is not None:
        user.full_name = clean_text(full_name, field="full_name", max_length=200)
    user.save(update_fields=["role", "full_name"])
    if user.role != previous_role:
        audit_record(
            "member.role_changed", request=request, target=user, changes={"role": [previous_role, role]}
        )
    return user


def member_sign_out_everywhere(*, user: User) -> None:
    """End every session of the user (the session epoch is part of the session hash) and delete their tokens.
    Called under the caller's lock on the user's row."""
    user.session_epoch += 1
    user.save(update_fields=["session_epoch"])
    AuthToken.objects.filter(user=user).delete()
    credentials_revoked.send(sender=User, user_id=user.pk)  # open live streams re-check and end


@transaction.atomic
def member_set_active(*, member_id: int, active: bool, request: HttpRequest | None = None) -> User:
    """Deactivate or reactivate: the one way a member's access is switched off or on. A deactivated member's
    tokens are deleted and their sessions end; their API keys stop working while they are inactive
    (authentication checks is_active); the records they own stay. Reactivation brings back no earlier session
    or token: both directions end them, so one deactivated some other way is not revived either. A change is
    in the audit log."""
    user = User.objects.select_for_update().filter(pk=member_id).first()
    if user is None:
        raise NotFound("No such member.", code="member_not_found")
    if not active and user.role == Role.ADMIN and user.is_active and not _other_active_admins(user):
        raise Conflict("The last admin cannot be deactivated.", code="last_admin")
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
        member_sign_out_everywhere(user=user)
        action = "member.reactivated" if active else "member.deactivated"
        audit_record(action, request=request, target=user, changes={"is_active": [not active, active]})
    return user
