"""The inbound addresses of organizations, all on INBOUND_DOMAIN, and how a recipient maps back to one.

- the dropbox, `<slug>-<random>@<domain>` (InboundMailbox, one per organization, made on first use);
- per-message reply addresses, `reply+<organization id>-<reference>-<signature>@<domain>`, used as Reply-To
  on what an organization sends: `reference` names a row of the organization's own schema (the thread the
  reply belongs to, tenant_apps.mail.models.ReplyThread) and the signature (an HMAC under SECRET_KEY) makes
  addresses impossible to forge or to aim at another organization by changing the numbers.

`resolve(address)` answers from the public schema alone (the receiver decides at RCPT time without entering
any organization's schema): None for an address that is not a live organization's.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.crypto import constant_time_compare, salted_hmac

from shared_apps.mailroute.models import InboundMailbox
from shared_apps.organizations.models import Organization, OrganizationStatus

DROPBOX = "dropbox"
REPLY = "reply"
REPLY_PREFIX = "reply+"
_REPLY_RE = re.compile(r"^reply\+(\d{1,12})-(\d{1,15})-([0-9a-f]{20})$")
_SALT = "leadpulse.mailroute.reply-address"


@dataclass(frozen=True)
class Route:
    """Where a recipient address leads: an organization, through its dropbox or a reply address."""

    organization: Organization
    kind: str  # DROPBOX | REPLY
    reference: int | None = None  # a reply address's ReplyThread id (in the organization's schema)

    def as_job_data(self) -> dict[str, object]:
        return {"kind": self.kind, "reference": self.reference}


def inbound_domain() -> str:
    return str(settings.INBOUND_DOMAIN).lower()


def dropbox_address(organization: Organization) -> str:
    """The organization's dropbox address, made on first use."""
    mailbox = InboundMailbox.objects.filter(organization=organization).first()
    while mailbox is None:
        local_part = f"{organization.slug}-{secrets.token_hex(4)}".lower()
        try:
            with transaction.atomic():
                mailbox = InboundMailbox.objects.create(organization=organization, local_part=local_part)
        except IntegrityError:  # made concurrently (or, once in 4 billion, the random part taken)
            mailbox = InboundMailbox.objects.filter(organization=organization).first()
    return f"{mailbox.local_part}@{inbound_domain()}"


def _signature(organization_id: int, reference: int) -> str:
    return salted_hmac(_SALT, f"{organization_id}-{reference}", algorithm="sha256").hexdigest()[:20]


def reply_address(organization: Organization, reference: int) -> str:
    """The reply address for `reference` (a ReplyThread id in the organization's schema)."""
    organization_id = int(organization.pk)
    signature = _signature(organization_id, reference)
    return f"{REPLY_PREFIX}{organization_id}-{reference}-{signature}@{inbound_domain()}"


def resolve(address: str) -> Route | None:
    """The live organization an address on INBOUND_DOMAIN belongs to, or None (unknown, malformed, another
    domain, a forged reply address, a deleted or suspended organization)."""
    address = parseaddr(address or "")[1].strip().lower()
    local_part, at, domain = address.rpartition("@")
    if not at or not local_part or domain != inbound_domain() or len(local_part) > 64:
        return None
    match = _REPLY_RE.match(local_part)
    if match is not None:
        organization_id, reference, signature = int(match[1]), int(match[2]), match[3]
        if not constant_time_compare(signature, _signature(organization_id, reference)):
            return None
        organization = Organization.objects.filter(pk=organization_id).first()
        route = Route(organization, REPLY, reference) if organization is not None else None
    else:
        mailbox = InboundMailbox.objects.select_related("organization").filter(local_part=local_part).first()
        route = Route(mailbox.organization, DROPBOX) if mailbox is not None else None
    if route is None or route.organization.status != OrganizationStatus.ACTIVE:
        return None
    return route


def is_inbound_address(address: str) -> bool:
    """Whether an address is on the inbound domain (ours: never matched to a lead or contact)."""
    return parseaddr(address or "")[1].strip().lower().endswith(f"@{inbound_domain()}")
