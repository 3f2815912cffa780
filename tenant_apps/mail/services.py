"""Writes of the mail app: the organization's email settings, reply addresses, and the processing of each
inbound message (tenant_apps.mail.jobs runs it in the organization's schema)."""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from dataclasses import dataclass, field
from email.utils import formataddr, getaddresses
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import AppError, Forbidden, InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.sealed import SealedValueUnreadable, seal, unseal
from shared_apps.mailroute.addresses import DROPBOX, REPLY, is_inbound_address, reply_address
from shared_apps.organizations.context import current_organization
from shared_apps.users.models import Role, User
from tenant_apps.activities.emails import LoggedEmail
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.services import activity_record, email_thread_of
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead, Source
from tenant_apps.leads.services import lead_create
from tenant_apps.mail import smtp
from tenant_apps.mail.models import (
    Attachment,
    BouncedAddress,
    InboundMessage,
    InboundStatus,
    MailSettings,
    ReplyThread,
    SmtpSecurity,
    mail_storage,
)
from tenant_apps.mail.parsing import (
    OWN_MESSAGE_ID_SUFFIX,
    Inbound,
    MalformedMessage,
    derived_message_id,
    parse,
)
from tenant_apps.mail.selectors import mail_settings_get
from tenant_apps.privacy.models import SuppressionReason
from tenant_apps.privacy.services import suppress
from tenant_apps.sequences.models import SentStep, StopReason
from tenant_apps.sequences.services import enrollments_stop, enrollments_stop_on_reply

logger = logging.getLogger(__name__)

Record = Lead | Contact
# one message names at most this many records (a mail to a long list is not a reason to write hundreds)
MAX_RECORDS = 50


# ----------------------------------------------------------------------------------------------- settings


SMTP_FIELDS = (
    "smtp_enabled",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "smtp_password",
    "smtp_from_domains",
    "smtp_from_address",
)
SETTINGS_FIELDS = ("create_leads_from_unknown", *SMTP_FIELDS)
SECRET_FIELDS = ("smtp_password",)
_HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*$"
)
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_FROM_DOMAINS = 20


def _text(changes: dict[str, Any], field: str, max_length: int) -> str:
    value = changes[field]
    if not isinstance(value, str):
        raise InvalidInput(field, "Expected text.")
    value = value.strip()
    if len(value) > max_length or any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise InvalidInput(field, f"At most {max_length} printable characters.")
    return value


def _host(value: str, field: str = "smtp_host") -> str:
    host = value.lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput(field, "Not a host name.") from None
    if not _HOST.match(host):
        raise InvalidInput(field, "Not a host name.")
    return host


def _from_domains(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_FROM_DOMAINS:
        raise InvalidInput("smtp_from_domains", f"A list of at most {MAX_FROM_DOMAINS} domain names.")
    cleaned: list[str] = []
    for raw in value:
        domain = raw.strip().lower().removeprefix("@") if isinstance(raw, str) else ""
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            domain = ""
        if not _DOMAIN.match(domain):
            raise InvalidInput("smtp_from_domains", f"{str(raw)[:100]!r} is not a domain name.")
        if domain not in cleaned:
            cleaned.append(domain)
    return cleaned


def _smtp_changes(row: MailSettings, changes: dict[str, Any]) -> dict[str, Any]:
    """The model values of the SMTP fields in `changes`, checked (InvalidInput naming the field)."""
    values: dict[str, Any] = {}
    if "smtp_enabled" in changes:
        if not isinstance(changes["smtp_enabled"], bool):
            raise InvalidInput("smtp_enabled", "Expected true or false.")
        values["smtp_enabled"] = changes["smtp_enabled"]
    if "smtp_host" in changes:
        host = _text(changes, "smtp_host", 253)
        values["smtp_host"] = _host(host) if host else ""
    if "smtp_port" in changes:
        port = changes["smtp_port"]
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise InvalidInput("smtp_port", "A port number, 1 to 65535.")
        values["smtp_port"] = port
    if "smtp_security" in changes:
        if changes["smtp_security"] not in SmtpSecurity.values:
            raise InvalidInput("smtp_security", f"One of {', '.join(SmtpSecurity.values)}.")
        values["smtp_security"] = changes["smtp_security"]
    if "smtp_username" in changes:
        values["smtp_username"] = _text(changes, "smtp_username", 254)
    if "smtp_password" in changes:
        password = changes["smtp_password"]
        if not isinstance(password, str) or len(password) > 500:
            raise InvalidInput("smtp_password", "At most 500 characters.")
        values["smtp_password_secret"] = seal(password)
    if "smtp_from_domains" in changes:
        values["smtp_from_domains"] = _from_domains(changes["smtp_from_domains"])
    if "smtp_from_address" in changes:
        address = _text(changes, "smtp_from_address", 254).lower()
        if address:
            try:
                validate_email(address)
            except ValidationError:
                raise InvalidInput("smtp_from_address", "Enter a valid email address.") from None
        values["smtp_from_address"] = address
    # the result must hold together
    enabled = values.get("smtp_enabled", row.smtp_enabled)
    host = values.get("smtp_host", row.smtp_host)
    domains = values.get("smtp_from_domains", row.smtp_from_domains)
    from_address = values.get("smtp_from_address", row.smtp_from_address)
    if enabled and not host:
        raise InvalidInput("smtp_host", "Required to enable the organization's SMTP server.", code="required")
    if domains and not from_address:
        raise InvalidInput(
            "smtp_from_address",
            "Required with From domains: the From of members whose address is on another domain.",
            code="required",
        )
    if domains and from_address.rpartition("@")[2] not in domains:
        raise InvalidInput("smtp_from_address", "Must be an address on one of the From domains.")
    port = values.get("smtp_port", row.smtp_port)
    if host and (host != row.smtp_host or port != row.smtp_port or (enabled and not row.smtp_enabled)):
        try:
            smtp.checked_addresses(host, port)
        except smtp.SmtpHostRefused as refused:
            raise InvalidInput("smtp_host", refused.message, code=refused.code) from None
    return values


@transaction.atomic
def mail_settings_update(*, actor: User, changes: dict[str, Any]) -> MailSettings:
    """Change the organization's email settings, its SMTP server among them. Admins only. The password is
    sealed at rest and the audit entry says only that it changed; a host that resolves to a private
    address is refused (unless MAIL_SMTP_ALLOW_PRIVATE_HOSTS)."""
    if actor.role != Role.ADMIN:
        raise Forbidden("Only an admin can change the email settings.")
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "Unknown field.")
    if "create_leads_from_unknown" in changes and not isinstance(changes["create_leads_from_unknown"], bool):
        raise InvalidInput("create_leads_from_unknown", "Expected true or false.")
    MailSettings.objects.get_or_create(pk=1)
    row = MailSettings.objects.select_for_update().get(pk=1)
    values = _smtp_changes(row, changes)
    if "create_leads_from_unknown" in changes:
        values["create_leads_from_unknown"] = changes["create_leads_from_unknown"]
    diff: dict[str, Any] = {}
    for key, value in values.items():
        if key == "smtp_password_secret":
            if unseal_or_none(row.smtp_password_secret) != changes["smtp_password"]:
                diff["smtp_password"] = "(changed)"  # noqa: S105 (a marker, not a password)
        elif getattr(row, key) != value:
            diff[key] = [getattr(row, key), value]
        setattr(row, key, value)
    row.updated_by = actor
    row.save()
    if diff:
        audit_record("email_settings.updated", actor=actor, target=row, changes=diff)
        publish_on_commit("settings.email_updated", record_id=row.pk, actor_id=actor.pk, changes=diff)
    return row


def unseal_or_none(token: str) -> str | None:
    try:
        return unseal(token)
    except SealedValueUnreadable:
        return None


def mail_smtp_test(*, actor: User, to: str = "") -> dict[str, str]:
    """Send a test message through the organization's saved SMTP configuration (admins only), to `to` or
    the admin's own address; recorded in the audit log either way. SmtpTestFailed says what failed."""
    if actor.role != Role.ADMIN:
        raise Forbidden("Only an admin can test the email settings.")
    recipient = (to or actor.email or "").strip().lower()
    try:
        validate_email(recipient)
    except ValidationError:
        raise InvalidInput("to", "Enter a valid email address.") from None
    row = mail_settings_get()
    try:
        host = smtp.smtp_test(row=row, sender=sender_name_and_address(actor), to=recipient)
    except smtp.SmtpTestFailed as failure:
        audit_record(
            "email_settings.smtp_tested",
            actor=actor,
            target_type="mail.mailsettings",
            target_id=1,
            changes={"to": recipient, "ok": False, "code": failure.code},
        )
        raise
    audit_record(
        "email_settings.smtp_tested",
        actor=actor,
        target_type="mail.mailsettings",
        target_id=1,
        changes={"to": recipient, "ok": True, "host": host},
    )
    return {"to": recipient, "host": host}


def sender_name_and_address(actor: User) -> str:
    return formataddr((" ".join((actor.full_name or "").split()), actor.email or ""))


# ------------------------------------------------------------------------------------------ reply address


def reply_address_create(*, record: Record, message_id: str, thread_id: str = "") -> str:
    """A per-message reply address for an email sent from `record`'s timeline: its Reply-To, so that the
    answer lands on that record, in that thread, whoever writes it."""
    anchor = {"lead": record} if isinstance(record, Lead) else {"contact": record}
    thread = ReplyThread.objects.create(**anchor, message_id=message_id, thread_id=thread_id or message_id)
    return reply_address(current_organization(), thread.pk)


# ------------------------------------------------------------------------------------------------ inbound


@dataclass
class _Outcome:
    status: str
    details: dict[str, Any] = field(default_factory=dict)
    replies: list[tuple[int, int]] = field(default_factory=list)  # (lead id, activity id) written inbound
    bounced: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (lead id, details)
    unsubscribed: list[int] = field(default_factory=list)  # lead ids


def inbound_message_process(
    *,
    raw_name: str,
    routes: list[dict[str, Any]],
    mail_from: str = "",
    recipients: list[str] | tuple[str, ...] = (),
) -> InboundMessage | None:
    """Process one received message (stored as `raw_name` in the mail storage) in the current organization.

    - A Message-ID already received here: nothing more (a duplicate delivery); its copy is removed.
    - Unreadable: kept, marked malformed.
    - An RFC 3464 report of failed deliveries: each failed address is marked bouncing, every lead and
      contact with it gets a SYSTEM activity, and the leads' sequence enrolments stop (delivery_failed).
    - Our own message come back (our loop header, or a Message-ID we generated): marked loop, never
      recorded as a reply.
    - Otherwise an EMAIL activity on every live lead and contact whose address is in From, To or Cc (and on
      the record a reply address names), threaded by Message-ID / In-Reply-To / References as logged
      emails are (activities.services.email_thread_of), with its attachments; no record: a new lead from
      the sender when it came to the dropbox and the organization's setting says so. A lead's inbound
      email stops its sequence enrolments as any recorded reply does.

    Safe to run twice (rq delivers at least once): the Message-ID claim and the writes commit together."""
    storage = mail_storage()
    try:
        with storage.open(raw_name, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        logger.warning("inbound: %s is gone; nothing to process", raw_name)
        return None
    envelope = {"mail_from": mail_from[:254], "recipients": list(recipients)[:50], "raw_name": raw_name}
    try:
        parsed: Inbound | None = parse(raw)
    except MalformedMessage as error:
        parsed = None
        reason = str(error)
    message_id = parsed.message_id if parsed else derived_message_id(raw)
    with transaction.atomic():
        try:
            with transaction.atomic():
                message = InboundMessage.objects.create(
                    message_id=message_id,
                    size=len(raw),
                    subject=parsed.subject if parsed else "",
                    **envelope,
                )
        except IntegrityError:
            existing = InboundMessage.objects.get(message_id=message_id)
            if existing.raw_name != raw_name:
                transaction.on_commit(lambda: storage.delete(raw_name))
            return existing
        if parsed is None:
            outcome = _Outcome(InboundStatus.MALFORMED, {"error": reason})
        elif parsed.is_report:
            outcome = _bounce(message, parsed)
        elif _is_loop(parsed):
            outcome = _Outcome(InboundStatus.LOOP, {"message_id": parsed.message_id})
        else:
            outcome = _record(message, parsed, routes)
        message.status = outcome.status
        message.outcome = outcome.details
        message.processed_at = timezone.now()
        message.save(update_fields=["status", "outcome", "processed_at"])
    # each in transactions of their own, as the sequences app stops enrolments
    for lead_id, activity_id in outcome.replies:
        enrollments_stop_on_reply(lead_id=lead_id, activity_id=activity_id)
    for lead_id, details in outcome.bounced:
        enrollments_stop(lead_id=lead_id, reason=StopReason.DELIVERY_FAILED, details=details)
    for lead_id in outcome.unsubscribed:
        details = {"reason": SuppressionReason.UNSUBSCRIBED.value}
        enrollments_stop(lead_id=lead_id, reason=StopReason.DO_NOT_CONTACT, details=details)
    return message


def _is_loop(parsed: Inbound) -> bool:
    if parsed.loop_marked or parsed.message_id.endswith(OWN_MESSAGE_ID_SUFFIX):
        return True
    return SentStep.objects.filter(message_id=parsed.message_id).exists()


def _bounce(message: InboundMessage, parsed: Inbound) -> _Outcome:
    bounced: list[dict[str, Any]] = []
    outcome = _Outcome(
        InboundStatus.BOUNCE, {"bounced": bounced, "returned_message_id": parsed.returned_message_id}
    )
    now = timezone.now()
    for failure in parsed.failures:
        row, created = BouncedAddress.objects.select_for_update().get_or_create(
            address=failure.address,
            defaults={"status": failure.status, "diagnostic": failure.diagnostic, "first_bounced_at": now},
        )
        if not created:
            row.bounces += 1
            row.last_bounced_at, row.status, row.diagnostic = now, failure.status, failure.diagnostic
            row.save(update_fields=["bounces", "last_bounced_at", "status", "diagnostic"])
        details = {"address": failure.address, "status": failure.status, "inbound_message_id": message.pk}
        records: list[Record] = [
            *Lead.objects.alive().filter(email=failure.address)[:MAX_RECORDS],
            *Contact.objects.alive().filter(email=failure.address)[:MAX_RECORDS],
        ]
        for record in records:
            activity_record(
                record=record,
                type=ActivityType.SYSTEM,
                actor_id=None,
                subject=f"Email to {failure.address} bounced"
                + (f" ({failure.status})" if failure.status else ""),
                metadata={"event": "email_bounced", **details, "diagnostic": failure.diagnostic},
            )
            if isinstance(record, Lead):
                outcome.bounced.append((record.pk, {"bounce": failure.status, "address": failure.address}))
        bounced.append({**details, "records": len(records)})
    return outcome


def members_emails(addresses: list[str]) -> set[str]:
    return {
        email.lower() for email in User.objects.filter(email__in=addresses).values_list("email", flat=True)
    }


def _targets(parsed: Inbound, routes: list[dict[str, Any]]) -> tuple[list[Record], dict[int, str]]:
    """The records the message goes on, and the thread a reply address imposes (by the record's position)."""
    addresses = [address for address in parsed.addresses if not is_inbound_address(address)]
    records, forced = reply_targets(routes)
    if addresses:
        for model in (Lead, Contact):
            for record in model.objects.alive().filter(email__in=addresses).order_by("pk")[:MAX_RECORDS]:
                if record not in records:
                    records.append(record)
    return records[:MAX_RECORDS], forced


def reply_targets(routes: list[dict[str, Any]]) -> tuple[list[Record], dict[int, str]]:
    """The live records the message's reply addresses name, and the thread each imposes (by position)."""
    records: list[Record] = []
    forced: dict[int, str] = {}
    for route in routes:
        if route.get("kind") != REPLY or not isinstance(route.get("reference"), int):
            continue
        thread = ReplyThread.objects.filter(pk=route["reference"]).first()
        record: Record | None = None
        if thread is not None and thread.lead_id is not None:
            record = _live(Lead, thread.lead_id)
        elif thread is not None and thread.contact_id is not None:
            record = _live(Contact, thread.contact_id)
        if thread is not None and record is not None and record not in records:
            forced[len(records)] = thread.thread_id
            records.append(record)
    return records, forced


MAX_MERGE_HOPS = 10


def _live(model: type[Lead] | type[Contact], record_id: int) -> Record | None:
    """The live record `record_id` is now: itself, or the survivor it was merged into (merges leave the
    reply threads on the merged record: tenant_apps.dedupe); None when deleted."""
    record = model.objects.filter(pk=record_id).first()
    for _hop in range(MAX_MERGE_HOPS):
        if record is None or record.merged_into_id is None:
            break
        record = model.objects.filter(pk=record.merged_into_id).first()
    if record is None or record.deleted_at is not None or record.merged_into_id is not None:
        return None
    return record


def lead_from_sender(parsed: Inbound, routes: list[dict[str, Any]]) -> Lead | None:
    if not parsed.sender or is_inbound_address(parsed.sender):
        return None
    if not any(route.get("kind") == DROPBOX for route in routes):
        return None
    if not mail_settings_get().create_leads_from_unknown or members_emails([parsed.sender]):
        return None
    display = next((name for name, _address in getaddresses([parsed.from_header]) if name), "")
    name = " ".join(display.split())[:200] or parsed.sender.partition("@")[0][:200]
    try:
        with transaction.atomic():
            return lead_create(
                actor=None, allow_duplicate=True, name=name, email=parsed.sender, source=Source.OTHER
            )
    except AppError as error:  # an address the leads app will not take: the message stays unmatched
        logger.info("inbound: no lead from %s: %s", parsed.sender, error)
        return None


def store_attachments(parsed: Inbound) -> list[tuple[str, str, str, int]]:
    """Each attachment's file saved once: (stored name, name, content type, size). A run that rolls back
    leaves its files behind (unreferenced, under the organization's id): its retry saves them anew."""
    storage = mail_storage()
    organization_id = current_organization().pk
    stored = []
    for attachment in parsed.attachments:
        name = storage.save(
            f"{organization_id}/attachments/{uuid.uuid4().hex}/{attachment.name}",
            ContentFile(attachment.data),
        )
        stored.append((name, attachment.name, attachment.content_type, len(attachment.data)))
    return stored


def _asks_to_unsubscribe(parsed: Inbound, routes: list[dict[str, Any]]) -> bool:
    """The mailto of our List-Unsubscribe (tenant_apps.mail.unsubscribe): subject "unsubscribe" to the
    dropbox, from someone who is not a member."""
    return (
        parsed.subject.strip().lower() == "unsubscribe"
        and bool(parsed.sender)
        and any(route.get("kind") == DROPBOX for route in routes)
        and not members_emails([parsed.sender])
    )


def email_headers(parsed: Inbound) -> dict[str, Any]:
    """What an inbound EMAIL activity's metadata keeps of the message's headers."""
    return {
        "from": parsed.from_header,
        "to": parsed.to_header,
        "cc": parsed.cc_header,
        "message_id": parsed.message_id,
        "in_reply_to": [parsed.in_reply_to] if parsed.in_reply_to else [],
        "references": parsed.references,
        "date": parsed.date.isoformat(),
    }


def _record(message: InboundMessage, parsed: Inbound, routes: list[dict[str, Any]]) -> _Outcome:
    unsubscribed = _asks_to_unsubscribe(parsed, routes)
    if unsubscribed:  # then recorded as any message: a lead's enrolments stop as on any reply
        suppress(parsed.sender, SuppressionReason.UNSUBSCRIBED)
    records, forced = _targets(parsed, routes)
    created_lead = None
    if not records:
        created_lead = lead_from_sender(parsed, routes)
        if created_lead is None:
            return _Outcome(InboundStatus.UNMATCHED, {"addresses": parsed.addresses[:20]})
        records = [created_lead]
    direction = "outbound" if parsed.sender and members_emails([parsed.sender]) else "inbound"
    files = store_attachments(parsed) if parsed.attachments else []
    email = LoggedEmail(
        message_id=parsed.message_id, in_reply_to=parsed.in_reply_to, references=parsed.references
    )
    headers = email_headers(parsed)
    outcome = _Outcome(InboundStatus.RECORDED, {"activities": []})
    if unsubscribed:
        outcome.details["unsubscribed"] = parsed.sender
        outcome.unsubscribed = list(Lead.objects.filter(email=parsed.sender).values_list("pk", flat=True))
    if created_lead is not None:
        outcome.details["created_lead"] = created_lead.pk
    for position, record in enumerate(records):
        anchor = "lead" if isinstance(record, Lead) else "contact"
        if Activity.objects.filter(**{anchor: record}, message_id=parsed.message_id).exists():
            continue  # recorded on this record before (logged through the API, or sent by us)
        thread_id = forced.get(position) or email_thread_of(record, email)
        attachments = [
            Attachment.objects.create(
                message=message, file=stored, name=name, content_type=content_type, size=size
            )
            for stored, name, content_type, size in files
        ]
        activity = activity_record(
            record=record,
            type=ActivityType.EMAIL,
            actor_id=None,
            subject=parsed.subject,
            body=parsed.body,
            occurred_at=min(parsed.date, timezone.now()),
            metadata={
                **headers,
                "direction": direction,
                "source": "inbound",
                "inbound_message_id": message.pk,
                "attachments": [attachment.as_metadata() for attachment in attachments],
            },
            message_id=parsed.message_id,
            thread_id=thread_id,
        )
        if attachments:
            Attachment.objects.filter(pk__in=[attachment.pk for attachment in attachments]).update(
                activity=activity
            )
        outcome.details["activities"].append(activity.pk)
        if isinstance(record, Lead):
            publish_on_commit(
                "lead.email_recorded",
                record_id=record.pk,
                actor_id=None,
                owner_id=record.owner_id,
                activity_id=activity.pk,
                direction=direction,
                thread_id=thread_id,
            )
            if direction == "inbound":
                outcome.replies.append((record.pk, activity.pk))
    return outcome
