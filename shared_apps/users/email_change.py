"""Changing one's email: a link goes to the new address, and the email changes only when it is followed.

The link is signed (no row): it names the user, the current and the new email, so it stops working once
the email has changed (used) or when the user changed it some other way, and expires after a day."""

from __future__ import annotations

from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from shared_apps.core.db import connection
from shared_apps.core.errors import AppError, InvalidInput
from shared_apps.users.mail import organization_link, organization_name, send_account_email
from shared_apps.users.models import User

MAX_AGE_SECONDS = 24 * 60 * 60


class EmailLinkInvalid(AppError):
    status_code = 400
    code = "email_link_invalid"
    message = "This email confirmation link is invalid, used or expired."


def _salt() -> str:
    return f"leadpulse.email-change:{connection.schema_name}"


def _check_new(user: User, new_email: object) -> str:
    email = new_email.strip().lower() if isinstance(new_email, str) else ""
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput("email", "Enter a valid email address.") from None
    if email == user.email:
        raise InvalidInput("email", "This is already your email.", code="unchanged")
    if User.objects.filter(email=email).exclude(pk=user.pk).exists():
        raise InvalidInput("email", "Another member has this email.", code="email_taken")
    return email


def email_change_request(*, user: User, new_email: object) -> str:
    """Send the confirmation link to the new address; returns the new email. Nothing changes yet."""
    email = _check_new(user, new_email)
    token = signing.dumps({"u": user.pk, "from": user.email, "to": email}, salt=_salt(), compress=True)
    send_account_email(
        to=email,
        subject=f"Confirm your new email for {organization_name()} on LeadPulse",
        body=(
            f"Follow this link to make {email} the email of your LeadPulse account:\n"
            f"{organization_link(f'/settings/email-change/{token}/')}\n\n"
            "The link works once and expires in a day. If you did not ask for this, ignore this email."
        ),
    )
    return email


@transaction.atomic
def email_change_confirm(*, token: object) -> tuple[User, str]:
    """Apply a confirmation link; returns the user and their previous email."""
    if not isinstance(token, str) or len(token) > 1000:
        raise EmailLinkInvalid()
    try:
        claim = signing.loads(token, salt=_salt(), max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        raise EmailLinkInvalid() from None
    user = User.objects.select_for_update().filter(pk=claim.get("u"), is_active=True).first()
    if user is None or user.email != claim.get("from"):
        raise EmailLinkInvalid()
    new_email = _check_new(user, claim.get("to"))
    previous, user.email = user.email, new_email
    user.save(update_fields=["email"])
    return user, previous
