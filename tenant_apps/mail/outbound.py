"""Email the organization sends: a member's email from a lead's or contact's page (`email_send`), and the
headers every message we send carries (`outbound_headers`): our Message-ID on INBOUND_DOMAIN, the loop
header, Reply-To a per-message reply address (so the answer lands on the record, in its thread, whoever
writes it), and From the member (MAIL_SEND_AS_MEMBER) or the platform under the member's name.

Messages go through the organization's own SMTP server when an admin enabled it (tenant_apps.mail.smtp),
else through Django's email backend (EMAIL_URL). A member's files go as MIME parts and are kept as the
email's attachments (the inbound ones' storage, download route and visibility).
"""

from __future__ import annotations

import re
import smtplib
import unicodedata
import uuid
from dataclasses import dataclass
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.mailroute.addresses import inbound_domain, is_inbound_address
from shared_apps.organizations.context import current_organization, storage_add, storage_check
from shared_apps.users.mail import EmailNotSent
from shared_apps.users.models import User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.services import activity_record
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.mail.models import Attachment, mail_storage
from tenant_apps.mail.parsing import LOOP_HEADER
from tenant_apps.mail.selectors import address_bouncing
from tenant_apps.mail.services import reply_address_create
from tenant_apps.mail.smtp import SmtpServer, outbound_connection, sender_address
from tenant_apps.privacy.services import is_suppressed

Record = Lead | Contact
MAX_CC = 10
MAX_SUBJECT = 300
MAX_BODY = 100_000


def sender_for(member: User | None, server: SmtpServer | None = None) -> str:
    """The From of what `member` sends: their name and address, or (MAIL_SEND_AS_MEMBER off, or no member)
    the platform's address (DEFAULT_FROM_EMAIL) under their name. Through the organization's server
    (`server`), an address off its From domains becomes its From address (tenant_apps.mail.smtp)."""
    default_name, default_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    if server is not None and server.from_address:
        default_address = server.from_address
    if member is None:
        return formataddr((default_name, default_address))
    name = " ".join((member.full_name or "").split())
    if settings.MAIL_SEND_AS_MEMBER and member.email:
        return formataddr((name, sender_address(server, member.email)))
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


@dataclass
class _File:
    name: str
    content_type: str
    data: bytes


_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")


def _file_name(raw: Any, position: int) -> str:
    name = unicodedata.normalize("NFC", str(raw or "")).replace("\\", "/")
    name = PurePosixPath(name).name  # never a path
    name = "".join(char for char in name if char.isprintable()).strip().strip(".")
    return name[:200] or f"attachment-{position}.bin"


def _files(uploads: list[Any]) -> list[_File]:
    """The member's files, read within the limits (InvalidInput naming `attachments` otherwise)."""
    limit, total_limit = settings.MAIL_SEND_MAX_ATTACHMENTS, settings.MAIL_SEND_MAX_ATTACHMENT_BYTES
    if len(uploads) > limit:
        raise InvalidInput("attachments", f"At most {limit} files.", code="too_many", limit=limit)
    files, total = [], 0
    for position, upload in enumerate(uploads, start=1):
        if not hasattr(upload, "read") or not hasattr(upload, "size"):
            raise InvalidInput("attachments", "Expected files (multipart/form-data).")
        total += int(upload.size or 0)
        if total > total_limit:
            raise InvalidInput(
                "attachments",
                f"The files come to more than {total_limit} bytes together.",
                code="too_large",
                limit=total_limit,
            )
        content_type = str(getattr(upload, "content_type", "") or "").split(";")[0].strip().lower()
        if not _CONTENT_TYPE.match(content_type):
            content_type = "application/octet-stream"
        upload.seek(0)
        files.append(_File(_file_name(upload.name, position), content_type, upload.read()))
    return files


def _keep(files: list[_File]) -> list[Attachment]:
    """The sent files stored as attachments (as an inbound email's are), not yet on their activity. A
    transaction that rolls back leaves its files behind, unreferenced under the organization's id."""
    storage = mail_storage()
    organization_id = current_organization().pk
    kept = []
    for file in files:
        stored = storage.save(
            f"{organization_id}/attachments/{uuid.uuid4().hex}/{file.name}", ContentFile(file.data)
        )
        kept.append(
            Attachment.objects.create(
                file=stored, name=file.name, content_type=file.content_type, size=len(file.data)
            )
        )
        storage_add(len(file.data))
    return kept


def email_send(
    *,
    actor: User,
    record: Record,
    subject: str,
    body: str,
    to: str | None = None,
    cc: list[str] | None = None,
    in_reply_to: Any = None,
    attachments: list[Any] | None = None,
) -> Activity:
    """Send an email from `record`'s page as `actor` (who may change the record: the caller checks) and
    record it on the timeline as an outbound EMAIL activity with its Message-ID and thread. An address on
    the do-not-contact list or bouncing is refused (InvalidInput naming the field); so are more than
    MAIL_SEND_MAX_ATTACHMENTS files or more than MAIL_SEND_MAX_ATTACHMENT_BYTES together (`attachments`).
    A mail server refusing the message is EmailNotSent (502) and nothing is recorded. Sent through the
    organization's SMTP server when enabled, else the platform's."""
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
    files = _files(attachments or [])
    if files:  # refused before anything is sent past the plan's storage
        storage_check(adding_bytes=sum(len(file.data) for file in files))
    message_id = outbound_message_id()
    thread_id = parent.thread_id if parent else message_id
    references = [*parent.references, parent.message_id] if parent else []
    connection = outbound_connection()
    sender = sender_for(actor, connection.server if connection is not None else None)
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
            connection=connection,
        )
        for file in files:
            message.attach(file.name, file.data, file.content_type)
        try:
            message.send()
        except (smtplib.SMTPException, OSError) as error:
            raise EmailNotSent(error=str(error)[:300]) from error
        now = timezone.now()
        kept = _keep(files)
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
                "attachments": [attachment.as_metadata() for attachment in kept],
            },
            message_id=message_id,
            thread_id=thread_id,
        )
        if kept:
            Attachment.objects.filter(pk__in=[attachment.pk for attachment in kept]).update(activity=activity)
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
