"""Writes of the mail app: the organization's email settings, reply addresses, and the processing of each
inbound message (tenant_apps.mail.jobs runs it in the organization's schema)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import AppError, Forbidden, InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.mailroute.addresses import DROPBOX, REPLY, is_inbound_address, reply_address
from shared_apps.organizations.context import current_organization
from shared_apps.users.models import Role, User
from tenant_apps.activities.emails import LoggedEmail
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.services import activity_record, email_thread_of
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead, Source
from tenant_apps.leads.services import lead_create
from tenant_apps.mail.models import (
    Attachment,
    BouncedAddress,
    InboundMessage,
    InboundStatus,
    MailSettings,
    ReplyThread,
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
SETTINGS_FIELDS = ("create_leads_from_unknown",)
# one message names at most this many records (a mail to a long list is not a reason to write hundreds)
MAX_RECORDS = 50


# ----------------------------------------------------------------------------------------------- settings


@transaction.atomic
def mail_settings_update(*, actor: User, changes: dict[str, Any]) -> MailSettings:
    """Change the organization's email settings. Admins only."""
    if actor.role != Role.ADMIN:
        raise Forbidden("Only an admin can change the email settings.")
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "Unknown field.")
    if "create_leads_from_unknown" in changes and not isinstance(changes["create_leads_from_unknown"], bool):
        raise InvalidInput("create_leads_from_unknown", "Expected true or false.")
    MailSettings.objects.get_or_create(pk=1)
    row = MailSettings.objects.select_for_update().get(pk=1)
    diff = {key: [getattr(row, key), value] for key, value in changes.items() if getattr(row, key) != value}
    for key, (_old, new) in diff.items():
        setattr(row, key, new)
    row.updated_by = actor
    row.save()
    if diff:
        audit_record("email_settings.updated", actor=actor, target=row, changes=diff)
        publish_on_commit("settings.email_updated", record_id=row.pk, actor_id=actor.pk, changes=diff)
    return row


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


def _members_emails(addresses: list[str]) -> set[str]:
    return {
        email.lower() for email in User.objects.filter(email__in=addresses).values_list("email", flat=True)
    }


def _targets(parsed: Inbound, routes: list[dict[str, Any]]) -> tuple[list[Record], dict[int, str]]:
    """The records the message goes on, and the thread a reply address imposes (by the record's position)."""
    addresses = [address for address in parsed.addresses if not is_inbound_address(address)]
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
    if addresses:
        for model in (Lead, Contact):
            for record in model.objects.alive().filter(email__in=addresses).order_by("pk")[:MAX_RECORDS]:
                if record not in records:
                    records.append(record)
    return records[:MAX_RECORDS], forced


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


def _lead_from_sender(parsed: Inbound, routes: list[dict[str, Any]]) -> Lead | None:
    if not parsed.sender or is_inbound_address(parsed.sender):
        return None
    if not any(route.get("kind") == DROPBOX for route in routes):
        return None
    if not mail_settings_get().create_leads_from_unknown or _members_emails([parsed.sender]):
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


def _store_attachments(parsed: Inbound) -> list[tuple[str, str, str, int]]:
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
        and not _members_emails([parsed.sender])
    )


def _record(message: InboundMessage, parsed: Inbound, routes: list[dict[str, Any]]) -> _Outcome:
    unsubscribed = _asks_to_unsubscribe(parsed, routes)
    if unsubscribed:  # then recorded as any message: a lead's enrolments stop as on any reply
        suppress(parsed.sender, SuppressionReason.UNSUBSCRIBED)
    records, forced = _targets(parsed, routes)
    created_lead = None
    if not records:
        created_lead = _lead_from_sender(parsed, routes)
        if created_lead is None:
            return _Outcome(InboundStatus.UNMATCHED, {"addresses": parsed.addresses[:20]})
        records = [created_lead]
    direction = "outbound" if parsed.sender and _members_emails([parsed.sender]) else "inbound"
    files = _store_attachments(parsed) if parsed.attachments else []
    email = LoggedEmail(
        message_id=parsed.message_id, in_reply_to=parsed.in_reply_to, references=parsed.references
    )
    headers = {
        "from": parsed.from_header,
        "to": parsed.to_header,
        "cc": parsed.cc_header,
        "message_id": parsed.message_id,
        "in_reply_to": [parsed.in_reply_to] if parsed.in_reply_to else [],
        "references": parsed.references,
        "date": parsed.date.isoformat(),
    }
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
