"""Email the organization sends: a member's email from a lead's or contact's page (`email_send`), and the
headers every message we send carries (`outbound_headers`): our Message-ID on INBOUND_DOMAIN, the loop
header, Reply-To a per-message reply address (so the answer lands on the record, in its thread, whoever
writes it), and From the member (MAIL_SEND_AS_MEMBER) or the platform under the member's name.

Messages go through Django's email backend (EMAIL_URL); an organization's own SMTP server is a later step.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.mailroute.addresses import inbound_domain, is_inbound_address
from shared_apps.organizations.context import current_organization
from shared_apps.users.mail import EmailNotSent
from shared_apps.users.models import User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.services import activity_record
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.mail.parsing import LOOP_HEADER
from tenant_apps.mail.selectors import address_bouncing
from tenant_apps.mail.services import reply_address_create
from tenant_apps.privacy.services import is_suppressed

Record = Lead | Contact
MAX_CC = 10
MAX_SUBJECT = 300
MAX_BODY = 100_000


def sender_for(member: User | None) -> str:
    """The From of what `member` sends: their name and address, or (MAIL_SEND_AS_MEMBER off, or no member)
    the platform's address (DEFAULT_FROM_EMAIL) under their name."""
    default_name, default_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    if member is None:
        return str(settings.DEFAULT_FROM_EMAIL)
    name = " ".join((member.full_name or "").split())
    if settings.MAIL_SEND_AS_MEMBER and member.email:
        return formataddr((name, member.email))
    return formataddr((name or default_name, default_address))


def outbound_message_id() -> str:
    return make_msgid(domain=inbound_domain())


def outbound_headers(*, record: Record, message_id: str, thread_id: str = "") -> tuple[str, dict[str, str]]:
    """The Reply-To address (a new reply thread on `record`) and the headers of a message we send."""
    reply_to = reply_address_create(record=record, message_id=message_id, thread_id=thread_id)
    headers = {
        "Message-ID": message_id,
        "Date": format_datetime(timezone.now()),
        LOOP_HEADER: current_organization().schema_name,
    }
    return reply_to, headers


# ------------------------------------------------------------------------------------------ member's email


@dataclass
class _Parent:
    message_id: str
    thread_id: str
    references: list[str]


def _address(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, "Expected an email address.", code="invalid")
    address = value.strip().lower()
    try:
        validate_email(address)
    except ValidationError:
        raise InvalidInput(field, "Enter a valid email address.", code="invalid") from None
    if is_inbound_address(address):
        raise InvalidInput(field, "This is one of our inbound addresses.", code="inbound_address")
    if is_suppressed(address):
        raise InvalidInput(field, f"{address} is on the do-not-contact list.", code="do_not_contact")
    if address_bouncing(address):
        raise InvalidInput(field, f"Mail to {address} bounces.", code="bouncing")
    return address


def _parent(record: Record, value: Any) -> _Parent | None:
    """The email this one answers: an EMAIL activity of the record, by id or by Message-ID."""
    if value in (None, ""):
        return None
    anchor = "lead" if isinstance(record, Lead) else "contact"
    emails = Activity.objects.filter(**{anchor: record}, type=ActivityType.EMAIL).exclude(message_id="")
    if isinstance(value, int) and not isinstance(value, bool):
        parent = emails.filter(pk=value).first()
    elif isinstance(value, str) and value.strip().isdigit():
        parent = emails.filter(pk=int(value.strip())).first()
    elif isinstance(value, str) and len(value) <= 300:
        parent = emails.filter(message_id=value.strip()).first()
    else:
        parent = None
    if parent is None:
        raise InvalidInput("in_reply_to", "No email of this record has this id.", code="not_found")
    references = parent.metadata.get("references") if isinstance(parent.metadata, dict) else None
    references = [ref for ref in references or [] if isinstance(ref, str)][-20:]
    return _Parent(parent.message_id, parent.thread_id or parent.message_id, references)


def email_send(
    *,
    actor: User,
    record: Record,
    subject: str,
    body: str,
    to: str | None = None,
    cc: list[str] | None = None,
    in_reply_to: Any = None,
) -> Activity:
    """Send an email from `record`'s page as `actor` (who may change the record: the caller checks) and
    record it on the timeline as an outbound EMAIL activity with its Message-ID and thread. An address on
    the do-not-contact list or bouncing is refused (InvalidInput naming the field); a mail server refusing
    the message is EmailNotSent (502) and nothing is recorded."""
    recipient = _address(to if to not in (None, "") else (record.email or ""), "to")
    copies = []
    for address in cc or []:
        copy = _address(address, "cc")
        if copy != recipient and copy not in copies:
            copies.append(copy)
    if len(copies) > MAX_CC:
        raise InvalidInput("cc", f"At most {MAX_CC} addresses.", code="too_many")
    subject = " ".join(subject.split())[:MAX_SUBJECT]  # one header line
    if not subject:
        raise InvalidInput("subject", "A subject is required.", code="required")
    if not body.strip():
        raise InvalidInput("body", "A body is required.", code="required")
    parent = _parent(record, in_reply_to)
    message_id = outbound_message_id()
    thread_id = parent.thread_id if parent else message_id
    references = [*parent.references, parent.message_id] if parent else []
    sender = sender_for(actor)
    with transaction.atomic():
        reply_to, headers = outbound_headers(record=record, message_id=message_id, thread_id=thread_id)
        if parent is not None:
            headers["In-Reply-To"] = parent.message_id
            headers["References"] = " ".join(references)
        message = EmailMessage(
            subject=subject,
            body=body,
            from_email=sender,
            to=[recipient],
            cc=copies,
            reply_to=[reply_to],
            headers=headers,
        )
        try:
            message.send()
        except (smtplib.SMTPException, OSError) as error:
            raise EmailNotSent(error=str(error)[:300]) from error
        now = timezone.now()
        activity = activity_record(
            record=record,
            type=ActivityType.EMAIL,
            actor_id=actor.pk,
            subject=subject,
            body=body,
            occurred_at=now,
            metadata={
                "from": sender,
                "to": recipient,
                "cc": ", ".join(copies),
                "reply_to": reply_to,
                "message_id": message_id,
                "in_reply_to": [parent.message_id] if parent else [],
                "references": references,
                "date": now.isoformat(),
                "direction": "outbound",
                "sent": True,
            },
            message_id=message_id,
            thread_id=thread_id,
        )
        if isinstance(record, Lead):
            publish_on_commit(
                "lead.email_recorded",
                record_id=record.pk,
                actor_id=actor.pk,
                owner_id=record.owner_id,
                activity_id=activity.pk,
                direction="outbound",
                thread_id=thread_id,
            )
    return activity
