"""Received messages processed a batch at a time: the set-based path of tenant_apps.mail.jobs.

The receiver gives each organization's messages of a burst to one job. Processed one by one
(services.inbound_message_process), a message costs some twenty queries; here a whole batch costs a fixed
number, whatever its size:
- reads: the Message-IDs already received, our own sent Message-IDs (loops), the members among the senders,
  the live leads and the live contacts with any of the addresses, the emails already on those records under
  these Message-IDs or the ones they answer (duplicates on a record, threads);
- writes: one INSERT of the messages, one of the activities, one UPDATE of the messages' outcomes, one
  UPDATE per record whose last contact moves forward; each lead's event, as one by one;
- after commit: one read of the running enrolments of the leads that wrote (sequences stop on reply).

Every message ends as inbound_message_process would leave it, in the order received: a Message-ID already
received, or met earlier in the batch, is a duplicate (its copy removed); a reply joins the thread of an
email recorded earlier in the same batch. What is rare and writes more (delivery status reports and
unsubscribe requests) goes through inbound_message_process after the batch. A batch that fails anywhere
(a concurrent worker claiming one of its Message-IDs first, a bad message) is rolled back whole and its
messages are processed one by one, each on its own: one bad message never holds the others back, and
nothing is lost or recorded twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from shared_apps.core.events import DomainEvent, publish_many_on_commit
from shared_apps.mailroute.addresses import DROPBOX, is_inbound_address
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.services import NewActivity, activities_record
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.mail import services
from tenant_apps.mail.models import Attachment, InboundMessage, InboundStatus, mail_storage
from tenant_apps.mail.parsing import (
    OWN_MESSAGE_ID_SUFFIX,
    Inbound,
    MalformedMessage,
    derived_message_id,
    parse,
)
from tenant_apps.mail.selectors import mail_settings_get
from tenant_apps.sequences.models import SentStep
from tenant_apps.sequences.services import Reply, enrollments_stop_on_replies

logger = logging.getLogger(__name__)

Record = Lead | Contact
MISSING = "missing"  # the stored copy is gone (processed and removed before): nothing to do
FAILED = "failed"


@dataclass
class Delivery:
    """One stored message as the receiver hands it to the job."""

    raw_name: str
    routes: list[dict[str, Any]] = field(default_factory=list)
    mail_from: str = ""
    recipients: list[str] = field(default_factory=list)


@dataclass
class _Item:
    delivery: Delivery
    raw: bytes
    parsed: Inbound | None
    error: str = ""
    status: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    first: _Item | None = None  # for a duplicate within the batch: the message it repeats
    records: list[Record] = field(default_factory=list)
    forced: dict[int, str] = field(default_factory=dict)  # a reply address's thread, by record position
    message: InboundMessage | None = None

    @property
    def message_id(self) -> str:
        return self.parsed.message_id if self.parsed else derived_message_id(self.raw)


def inbound_batch_process(*, deliveries: list[Delivery]) -> list[str]:
    """Process received messages of the current organization together; returns each one's status
    (InboundStatus, or "missing" / "failed"), in order. Safe to run again: what was processed is recognized
    by its Message-ID."""
    statuses = [MISSING] * len(deliveries)
    items: list[_Item | None] = []
    for index, delivery in enumerate(deliveries):
        try:
            items.append(_read(delivery))
        except Exception:  # the storage failed: the retry reads it again
            logger.exception("inbound: reading %s failed", delivery.raw_name)
            items.append(None)
            statuses[index] = FAILED
    alone = [index for index, item in enumerate(items) if item is not None and _alone(item)]
    together = [index for index, item in enumerate(items) if item is not None and index not in alone]
    replies: list[Reply] = []
    try:
        with transaction.atomic():
            replies = _process([items[index] for index in together])  # type: ignore[misc]
    except Exception:
        logger.exception("inbound: a batch of %s failed; processing its messages one by one", len(together))
        alone, together = sorted(alone + together), []
    for index in together:
        item = items[index]
        assert item is not None
        statuses[index] = item.status
    if replies:
        enrollments_stop_on_replies(replies=replies)
    for index in alone:
        item = items[index]
        assert item is not None
        statuses[index] = _one(item.delivery)
    return [str(status) for status in statuses]  # plain strings (the job's return value)


def _read(delivery: Delivery) -> _Item | None:
    try:
        with mail_storage().open(delivery.raw_name, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        logger.warning("inbound: %s is gone; nothing to process", delivery.raw_name)
        return None
    try:
        return _Item(delivery=delivery, raw=raw, parsed=parse(raw))
    except MalformedMessage as error:
        return _Item(delivery=delivery, raw=raw, parsed=None, error=str(error))


def _to_dropbox(item: _Item) -> bool:
    return any(route.get("kind") == DROPBOX for route in item.delivery.routes)


def _alone(item: _Item) -> bool:
    """Reports and unsubscribe requests: rare, with writes of their own; processed one by one."""
    parsed = item.parsed
    if parsed is None:
        return False
    return parsed.is_report or (parsed.subject.strip().lower() == "unsubscribe" and _to_dropbox(item))


def _one(delivery: Delivery) -> str:
    try:
        processed = services.inbound_message_process(
            raw_name=delivery.raw_name,
            routes=delivery.routes,
            mail_from=delivery.mail_from,
            recipients=delivery.recipients,
        )
    except Exception:
        logger.exception("inbound: processing %s failed", delivery.raw_name)
        return FAILED
    return processed.status if processed is not None else MISSING


def _process(items: list[_Item]) -> list[Reply]:
    """Inside the caller's transaction: claim, match, thread and record the batch; returns the leads' replies
    (for the sequences, once committed)."""
    fresh = _claim(items)
    readable = [item for item in fresh if item.parsed is not None]
    own = set(
        SentStep.objects.filter(message_id__in=[item.message_id for item in readable]).values_list(
            "message_id", flat=True
        )
    )
    recordable = []
    for item in fresh:
        parsed = item.parsed
        if parsed is None:
            item.status, item.details = InboundStatus.MALFORMED, {"error": item.error}
        elif (
            parsed.loop_marked
            or parsed.message_id.endswith(OWN_MESSAGE_ID_SUFFIX)
            or parsed.message_id in own
        ):
            item.status, item.details = InboundStatus.LOOP, {"message_id": parsed.message_id}
        else:
            recordable.append(item)
    senders = {item.parsed.sender for item in recordable if item.parsed and item.parsed.sender}
    members = services.members_emails(sorted(senders))
    _match(recordable, members)
    now = timezone.now()
    messages = InboundMessage.objects.bulk_create(
        [
            InboundMessage(
                message_id=item.message_id,
                size=len(item.raw),
                subject=item.parsed.subject if item.parsed else "",
                raw_name=item.delivery.raw_name,
                mail_from=item.delivery.mail_from[:254],
                recipients=list(item.delivery.recipients)[:50],
                status=item.status or InboundStatus.RECORDED,
                outcome=item.details,
                processed_at=now,
            )
            for item in fresh
        ]
    )
    for item, message in zip(fresh, messages, strict=True):
        item.message = message
    replies = _record([item for item in recordable if item.records], members)
    for item in items:
        if item.first is not None:
            item.status = item.first.status
    return replies


def _claim(items: list[_Item]) -> list[_Item]:
    """The items whose Message-ID is new here; the others are duplicates, their copies removed on commit."""
    storage = mail_storage()
    known = {
        message_id: (raw_name, status)
        for message_id, raw_name, status in InboundMessage.objects.filter(
            message_id__in=[item.message_id for item in items]
        ).values_list("message_id", "raw_name", "status")
    }
    fresh: list[_Item] = []
    first: dict[str, _Item] = {}
    for item in items:
        kept_name = ""
        if item.message_id in known:
            kept_name, item.status = known[item.message_id]
        elif item.message_id in first:
            item.first = first[item.message_id]
            kept_name = item.first.delivery.raw_name
        else:
            first[item.message_id] = item
            fresh.append(item)
            continue
        if kept_name != item.delivery.raw_name:
            name = item.delivery.raw_name
            transaction.on_commit(lambda name=name: storage.delete(name))  # type: ignore[misc]
    return fresh


def _match(items: list[_Item], members: set[str]) -> None:
    """Each item's records (reply addresses first, then every live lead and contact with one of its
    addresses), as services._targets finds them; a lead made from an unknown sender when the organization
    says so. Items matching nothing are UNMATCHED."""
    addresses = sorted(
        {
            address
            for item in items
            for address in item.parsed.addresses  # type: ignore[union-attr]
            if not is_inbound_address(address)
        }
    )
    by_address: dict[type[Lead] | type[Contact], dict[str, list[Record]]] = {Lead: {}, Contact: {}}
    if addresses:
        for model in (Lead, Contact):
            for record in model.objects.alive().filter(email__in=addresses).order_by("pk"):
                by_address[model].setdefault(record.email, []).append(record)
    settings = None
    for item in items:
        parsed = item.parsed
        assert parsed is not None
        records, forced = services.reply_targets(item.delivery.routes)
        mine = [address for address in parsed.addresses if not is_inbound_address(address)]
        for model in (Lead, Contact):
            found = {record.pk: record for address in mine for record in by_address[model].get(address, [])}
            for pk in sorted(found)[: services.MAX_RECORDS]:
                if found[pk] not in records:
                    records.append(found[pk])
        if not records and parsed.sender and parsed.sender not in members and _to_dropbox(item):
            settings = settings or mail_settings_get()
            if settings.create_leads_from_unknown:
                created = services.lead_from_sender(parsed, item.delivery.routes)
                if created is not None:
                    records = [created]
                    item.details["created_lead"] = created.pk
                    by_address[Lead].setdefault(parsed.sender, []).append(created)
        if not records:
            item.status, item.details = InboundStatus.UNMATCHED, {"addresses": parsed.addresses[:20]}
        item.records, item.forced = records[: services.MAX_RECORDS], forced


def _key(record: Record) -> tuple[str, int]:
    return ("lead" if isinstance(record, Lead) else "contact", int(record.pk))


def _record(items: list[_Item], members: set[str]) -> list[Reply]:
    """The EMAIL activities of the matched items, threaded, with their attachments and events."""
    if not items:
        return []
    leads = {record.pk for item in items for record in item.records if isinstance(record, Lead)}
    contacts = {record.pk for item in items for record in item.records if isinstance(record, Contact)}
    wanted = set()
    for item in items:
        parsed = item.parsed
        assert parsed is not None
        wanted.update(
            [parsed.message_id, *parsed.references, *([parsed.in_reply_to] if parsed.in_reply_to else [])]
        )
    # every email on these records under these ids: already recorded there, or a thread to join
    threads: dict[tuple[str, int], dict[str, str]] = {}
    rows = (
        Activity.objects.filter(Q(lead_id__in=leads) | Q(contact_id__in=contacts), message_id__in=wanted)
        .order_by("pk")
        .values_list("lead_id", "contact_id", "message_id", "thread_id")
    )
    for lead_id, contact_id, message_id, thread_id in rows:
        for key in ((("lead", lead_id),) if lead_id in leads else ()) + (
            (("contact", contact_id),) if contact_id in contacts else ()
        ):
            threads.setdefault(key, {}).setdefault(message_id, thread_id)
    entries: list[NewActivity] = []
    placed: list[tuple[Record, str, list[Attachment]]] = []  # each entry's record, direction, files
    now = timezone.now()
    for item in items:
        parsed = item.parsed
        assert parsed is not None and item.message is not None
        direction = "outbound" if parsed.sender and parsed.sender in members else "inbound"
        files = services.store_attachments(parsed) if parsed.attachments else []
        headers = services.email_headers(parsed)
        item.status, item.details = InboundStatus.RECORDED, {"activities": [], **item.details}
        for position, record in enumerate(item.records):
            known = threads.setdefault(_key(record), {})
            if parsed.message_id in known:
                continue  # recorded on this record before (logged through the API, or sent by us)
            thread_id = item.forced.get(position) or _thread(known, parsed)
            known[parsed.message_id] = thread_id  # what a later message of the batch answers
            attachments = [
                Attachment(message=item.message, file=stored, name=name, content_type=content_type, size=size)
                for stored, name, content_type, size in files
            ]
            if attachments:
                Attachment.objects.bulk_create(attachments)
            entries.append(
                NewActivity(
                    record=record,
                    type=ActivityType.EMAIL,
                    actor_id=None,
                    subject=parsed.subject,
                    body=parsed.body,
                    occurred_at=min(parsed.date, now),
                    metadata={
                        **headers,
                        "direction": direction,
                        "source": "inbound",
                        "inbound_message_id": item.message.pk,
                        "attachments": [attachment.as_metadata() for attachment in attachments],
                    },
                    message_id=parsed.message_id,
                    thread_id=thread_id,
                )
            )
            placed.append((record, direction, attachments))
    activities = activities_record(entries=entries)
    replies: list[Reply] = []
    events: list[DomainEvent] = []
    filed: list[Attachment] = []
    by_message = {item.message.pk: item for item in items if item.message is not None}
    for (record, direction, attachments), activity in zip(placed, activities, strict=True):
        by_message[activity.metadata["inbound_message_id"]].details["activities"].append(activity.pk)
        for attachment in attachments:
            attachment.activity = activity
            filed.append(attachment)
        if isinstance(record, Lead):
            events.append(
                DomainEvent(
                    topic="lead.email_recorded",
                    record_id=int(record.pk),
                    schema_name="",  # the active one (publish_many_on_commit)
                    actor_id=None,
                    data={
                        "owner_id": record.owner_id,
                        "activity_id": activity.pk,
                        "direction": direction,
                        "thread_id": activity.thread_id,
                    },
                )
            )
            if direction == "inbound":
                replies.append(
                    Reply(int(record.pk), int(activity.pk), activity.thread_id, activity.occurred_at)
                )
    publish_many_on_commit(events)
    if filed:
        Attachment.objects.bulk_update(filed, ["activity"])
    for item in items:
        assert item.message is not None
        item.message.status, item.message.outcome = item.status, item.details
    InboundMessage.objects.bulk_update(
        [item.message for item in items if item.message], ["status", "outcome"]
    )
    return replies


def _thread(known: dict[str, str], parsed: Inbound) -> str:
    """activities.services.email_thread_of over what is known of the record's emails (the database's and
    the batch's so far): the parent's thread, else the first known reference's, else the first reference,
    else the parent's id, else the message starts its own."""
    if parsed.in_reply_to and known.get(parsed.in_reply_to):
        return known[parsed.in_reply_to]
    if parsed.references:
        for reference in parsed.references:
            if reference in known:
                return known[reference]
        return parsed.references[0]
    return parsed.in_reply_to or parsed.message_id
