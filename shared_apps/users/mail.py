"""Links and emails of a member's account lifecycle (invitations, password resets, email changes): every link
points at the organization's primary domain, never at the host a request happened to arrive on."""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail

from shared_apps.core.errors import AppError

logger = logging.getLogger(__name__)


class EmailNotSent(AppError):
    status_code = 502
    code = "email_not_sent"
    message = "The email could not be sent; nothing was changed. Try again later."


def organization_link(path: str) -> str:
    """An absolute URL of `path` on the current organization's primary domain (LINK_SCHEME, LINK_PORT)."""
    from shared_apps.organizations.context import current_organization  # the platform imports this app

    organization = current_organization()
    primary = organization.domains.filter(is_primary=True).order_by("pk").first()
    host = primary.domain if primary is not None else f"{organization.slug}.{settings.BASE_DOMAIN}"
    port = f":{settings.LINK_PORT}" if settings.LINK_PORT else ""
    return f"{settings.LINK_SCHEME}://{host}{port}{path}"


def organization_name() -> str:
    from shared_apps.organizations.context import current_organization

    return str(current_organization().name)


def send_account_email(*, to: str, subject: str, body: str) -> None:
    """Send now, through Django's email backend; a refusal or an unreachable server is EmailNotSent (so the
    caller's transaction, and what it would have promised, rolls back)."""
    try:
        send_mail(subject=subject, message=body, from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[to])
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("account email to a recipient failed: %s", type(exc).__name__)
        raise EmailNotSent() from None
