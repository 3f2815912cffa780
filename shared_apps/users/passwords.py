"""Password reset by email and password change. Either way the user's tokens are revoked (User.save) and their
other sessions end (the session hash is the password's); the reset answers the same for any email."""

from __future__ import annotations

from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.db import transaction
from django.http import HttpRequest
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework.request import Request

from shared_apps.audit.services import audit_record
from shared_apps.core.db import connection
from shared_apps.core.errors import AppError, InvalidInput
from shared_apps.users.mail import organization_link, organization_name, send_account_email
from shared_apps.users.models import User
from shared_apps.users.policies import password_sign_in_check
from shared_apps.users.services import validate_new_credentials
from shared_apps.users.sessions import sessions_end_others


class ResetLinkInvalid(AppError):
    status_code = 400
    code = "reset_link_invalid"
    message = "This password reset link is invalid, used or expired. Ask for a new one."


class _SchemaTokenGenerator(PasswordResetTokenGenerator):
    """Django's generator (one-time: the hash covers the password and last login), keyed per schema as well,
    so a link of one organization never works on another's host even for a user with the same id."""

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        return f"{connection.schema_name}:{super()._make_hash_value(user, timestamp)}"


reset_tokens = _SchemaTokenGenerator()


def password_reset_request(*, email: object) -> User | None:
    """Email a reset link to the active member with this email, if there is one and passwords sign them in;
    the caller answers the same either way (no enumeration). Returns the user emailed, for the audit log."""
    email = email.strip().lower() if isinstance(email, str) else ""
    user = User.objects.filter(email=email, is_active=True).first() if email else None
    if user is None or not user.has_usable_password():
        return None
    try:
        password_sign_in_check(
            user
        )  # e.g. an organization that requires single sign-on: no password to reset
    except AppError:
        return None
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = organization_link(f"/password-reset/{uid}/{reset_tokens.make_token(user)}/")
    send_account_email(
        to=user.email,
        subject=f"Reset your LeadPulse password for {organization_name()}",
        body=(
            "Someone (hopefully you) asked to reset your LeadPulse password.\n\n"
            f"Choose a new one here:\n{link}\n\n"
            "The link works once and expires in a few hours. If you did not ask, ignore this email: "
            "your password stays as it is."
        ),
    )
    return user


def password_reset_ask(*, request: HttpRequest | Request, email: str) -> None:
    """A reset request from the API or the page, with its audit row (no actor; the user when there is one)."""
    user = password_reset_request(email=email)
    audit_record(
        "password.reset_requested",
        request=request,
        actor=None,
        target=user,
        changes={"email": email.strip().lower()[:254], "known": user is not None},
    )


def reset_user(uidb64: object, token: object) -> User | None:
    """The active user a reset link names, when its token is still good; else None."""
    if not isinstance(uidb64, str) or not isinstance(token, str) or len(uidb64) > 40 or len(token) > 100:
        return None
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not reset_tokens.check_token(user, token):
        return None
    return user


def _set_password(user: User, password: object, field: str) -> None:
    validate_new_credentials(
        email=user.email, password=password, full_name=user.full_name, fields=("email", field)
    )
    user.set_password(password)  # type: ignore[arg-type]
    user.save(update_fields=["password"])  # revokes the user's tokens (User.save)


@transaction.atomic
def password_reset_confirm(*, uidb64: object, token: object, new_password: object) -> User:
    """Set a new password through a reset link: the link then stops working (the password hash changed), every
    session of the user ends and their tokens are revoked."""
    found = reset_user(uidb64, token)
    if found is None:
        raise ResetLinkInvalid()
    user = User.objects.select_for_update().get(pk=found.pk)
    _set_password(user, new_password, "new_password")
    sessions_end_others(user=user, keep_session_key=None)
    return user


@transaction.atomic
def password_change(
    *, user: User, old_password: object, new_password: object, keep_session_key: str | None
) -> User:
    """Change one's own password: the old one must be right; the session named stays (the caller's), every
    other session ends and every token is revoked."""
    if not isinstance(old_password, str) or not user.check_password(old_password):
        raise InvalidInput("old_password", "Your current password is wrong.", code="wrong_password")
    locked = User.objects.select_for_update().get(pk=user.pk)
    _set_password(locked, new_password, "new_password")
    sessions_end_others(user=locked, keep_session_key=keep_session_key)
    user.password = locked.password
    return locked
