"""Unsubscribing from automated email (RFC 8058 one-click): every sequence step carries `List-Unsubscribe`
(our link and a mailto), `List-Unsubscribe-Post: List-Unsubscribe=One-Click` and the link in its body.
POST /u/<token>/ puts the address on the organization's do-not-contact list (reason unsubscribed) and stops
the enrolments of its leads; GET only asks (mail scanners follow links).

The token is the address signed with SECRET_KEY under a salt naming the schema: another organization's
token, served on this organization's host, is a bad signature and does nothing. It does not expire (an
unsubscribe link must keep working) and carries nothing but the address.
"""

from __future__ import annotations

from django.core import signing

from shared_apps.core.errors import AppError
from shared_apps.mailroute.addresses import dropbox_address
from shared_apps.organizations.context import current_organization
from shared_apps.users.mail import organization_link
from tenant_apps.leads.models import Lead
from tenant_apps.privacy.models import SuppressionReason
from tenant_apps.privacy.services import normalized, suppress
from tenant_apps.sequences.models import StopReason
from tenant_apps.sequences.services import enrollments_stop

MAX_TOKEN = 600
ONE_CLICK = "List-Unsubscribe=One-Click"


class UnsubscribeLinkInvalid(AppError):
    code = "unsubscribe_link_invalid"
    message = "This unsubscribe link is not valid."


def _salt() -> str:
    return f"leadpulse.unsubscribe:{current_organization().schema_name}"


def unsubscribe_token(email: str) -> str:
    return signing.dumps(normalized(email), salt=_salt(), compress=True)


def unsubscribe_link(email: str) -> str:
    return organization_link(f"/u/{unsubscribe_token(email)}/")


def unsubscribe_headers(email: str) -> dict[str, str]:
    """The RFC 2369 / RFC 8058 headers of an automated message to `email`. The mailto goes to the
    organization's dropbox (it lands on the timeline, and as any reply, stops the lead's enrolments)."""
    mailto = f"mailto:{dropbox_address(current_organization())}?subject=unsubscribe"
    return {
        "List-Unsubscribe": f"<{unsubscribe_link(email)}>, <{mailto}>",
        "List-Unsubscribe-Post": ONE_CLICK,
    }


def unsubscribe_footer(email: str) -> str:
    return f"\n\n--\nTo stop receiving these emails: {unsubscribe_link(email)}\n"


def address_of(token: object) -> str:
    """The address a token of this schema names (UnsubscribeLinkInvalid otherwise)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        raise UnsubscribeLinkInvalid()
    try:
        email = signing.loads(token, salt=_salt())
    except signing.BadSignature:
        raise UnsubscribeLinkInvalid() from None
    if not isinstance(email, str) or not normalized(email):
        raise UnsubscribeLinkInvalid()
    return normalized(email)


def unsubscribe(token: object) -> str:
    """Apply a one-click unsubscribe (idempotent); returns the address."""
    email = address_of(token)
    suppress(email, SuppressionReason.UNSUBSCRIBED)
    for lead_id in Lead.objects.filter(email=email).values_list("pk", flat=True):
        enrollments_stop(
            lead_id=lead_id,
            reason=StopReason.DO_NOT_CONTACT,
            details={"reason": SuppressionReason.UNSUBSCRIBED},
        )
    return email
