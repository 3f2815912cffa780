"""Writes on the timeline. Activities are only ever inserted (the database refuses the rest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_metadata, clean_text
from shared_apps.users.models import User
from tenant_apps.activities.emails import LoggedEmail, ParsedEmail, logged_email, parse_fields, parse_raw
from tenant_apps.activities.models import CONTACT_TYPES, LOGGABLE_TYPES, Activity, ActivityType, Note
from tenant_apps.leads.models import Lead
from tenant_apps.leads.selectors import lead_get

Record = Any  # a Lead, Contact, Account or Opportunity


def anchors_of(record: Record) -> dict[str, Any]:
    """The activity/note/task anchor fields for a record: itself, plus its account for a contact or an
    opportunity (so an account's timeline is one index range)."""
    from tenant_apps.accounts.models import Account
    from tenant_apps.contacts.models import Contact
    from tenant_apps.opportunities.models import Opportunity

    if isinstance(record, Lead):
        return {"lead": record}
    if isinstance(record, Contact):
        return {"contact": record, "account_id": record.account_id}
    if isinstance(record, Opportunity):
        return {"opportunity": record, "account_id": record.account_id}
    if isinstance(record, Account):
        return {"account": record}
    raise TypeError(f"not a customer record: {record!r}")


def activity_record(
    *,
    type: str,
    actor_id: int | None,
    lead: Lead | None = None,
    record: Record | None = None,
    subject: str = "",
    body: str = "",
    metadata: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    message_id: str = "",
    thread_id: str = "",
) -> Activity:
    """Append one activity on `record` (or `lead`). Callers hold the transaction that made the change.

    Contact activities (email, call, meeting, note) move the lead's or contact's last_contacted_at forward,
    never back; any activity on an account's records moves the account's last_activity_at forward.
    """
    record = record if record is not None else lead
    assert record is not None, "an activity is on a record"
    anchors = anchors_of(record)
    now = timezone.now()
    occurred_at = occurred_at or now
    activity = Activity.objects.create(
        **anchors,
        type=type,
        subject=subject[:300],
        body=body,
        metadata=metadata or {},
        actor_id=actor_id,
        occurred_at=occurred_at,
        created_at=now,
        message_id=message_id,
        thread_id=thread_id,
    )
    if occurred_at > now:
        return activity  # a scheduled meeting has not happened yet
    if type in CONTACT_TYPES and hasattr(record, "last_contacted_at"):
        _move_forward(record.__class__, record, "last_contacted_at", occurred_at)
    account_id = anchors.get("account_id") or (record.pk if "account" in anchors else None)
    if account_id:
        from tenant_apps.accounts.models import Account

        _move_forward(Account, Account(pk=account_id), "last_activity_at", occurred_at)
    return activity


@dataclass
class NewActivity:
    """One activity of activities_record: what activity_record takes, on `record`."""

    record: Record
    type: str
    actor_id: int | None
    subject: str = ""
    body: str = ""
    metadata: dict[str, Any] | None = None
    occurred_at: datetime | None = None
    message_id: str = ""
    thread_id: str = ""


def activities_record(*, entries: list[NewActivity]) -> list[Activity]:
    """activity_record for many activities at once (a batch of received mail): one INSERT for all of them,
    then each record's last_contacted_at and each account's last_activity_at moved forward once, to the
    latest of its activities, never back. Callers hold the transaction; returns the activities in order."""
    now = timezone.now()
    rows = []
    latest: dict[tuple[Any, int, str], datetime] = {}  # (model, pk, field) -> the latest to move it to
    for entry in entries:
        anchors = anchors_of(entry.record)
        occurred_at = entry.occurred_at or now
        rows.append(
            Activity(
                **anchors,
                type=entry.type,
                subject=entry.subject[:300],
                body=entry.body,
                metadata=entry.metadata or {},
                actor_id=entry.actor_id,
                occurred_at=occurred_at,
                created_at=now,
                message_id=entry.message_id,
                thread_id=entry.thread_id,
            )
        )
        if occurred_at > now:
            continue  # a scheduled meeting has not happened yet
        moves = []
        if entry.type in CONTACT_TYPES and hasattr(entry.record, "last_contacted_at"):
            moves.append((entry.record.__class__, int(entry.record.pk), "last_contacted_at"))
        account_id = anchors.get("account_id") or (entry.record.pk if "account" in anchors else None)
        if account_id:
            from tenant_apps.accounts.models import Account

            moves.append((Account, int(account_id), "last_activity_at"))
        for key in moves:
            if key not in latest or latest[key] < occurred_at:
                latest[key] = occurred_at
    created = Activity.objects.bulk_create(rows)
    records = {(entry.record.__class__, int(entry.record.pk)): entry.record for entry in entries}
    # in one order (by table, then id), so that two batches moving the same records never deadlock
    for (model, pk, field), occurred_at in sorted(latest.items(), key=lambda item: (item[0][2], item[0][1])):
        _move_forward(model, records.get((model, pk)) or model(pk=pk), field, occurred_at)
    return created


def _move_forward(model: Any, record: Record, field: str, at: datetime) -> None:
    model.objects.filter(pk=record.pk).filter(
        Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": at})
    ).update(**{field: at, "updated_at": F("updated_at")})
    current = getattr(record, field, None)
    if current is None or current < at:
        setattr(record, field, at)


def note_add(*, record: Record, actor: User | None, body: Any) -> Note:
    """A note on any record, with its NOTE activity on that record's timeline."""
    body = clean_text(body, field="body", max_length=20_000, required=True)
    actor_id = actor.pk if actor else None
    anchors = {key: value for key, value in anchors_of(record).items() if key != "account_id"}
    with transaction.atomic():
        note = Note.objects.create(**anchors, body=body, author_id=actor_id)
        activity_record(
            record=record,
            type=ActivityType.NOTE,
            actor_id=actor_id,
            subject="Note",
            body=body,
            metadata={"note_id": note.pk},
        )
        publish_on_commit(
            f"{record._meta.model_name}.note_added",
            record_id=record.pk,
            actor_id=actor_id,
            owner_id=record.owner_id,
            note_id=note.pk,
        )
    return note


def activity_log(
    *,
    actor: User | None,
    type: str,
    lead_id: int | None = None,
    record: Record | None = None,
    subject: Any = "",
    body: Any = "",
    metadata: Any = None,
    occurred_at: datetime | None = None,
) -> Activity:
    """A member logs a call, meeting, email, note or task on a record's timeline (`record`, or the lead
    `lead_id`). A logged NOTE is a note too (note_add), so the notes list and the timeline always agree.
    A logged EMAIL is in a thread like a recorded one: it joins the thread of the message its metadata's
    `in_reply_to` / `references` name, else starts its own (its generated Message-ID)."""
    if type not in LOGGABLE_TYPES:
        raise InvalidInput(
            "type", f"Members log one of {', '.join(LOGGABLE_TYPES)}; the rest are written by LeadPulse."
        )
    subject = clean_text(subject, field="subject", max_length=300)
    body = clean_text(body, field="body", max_length=100_000)
    metadata = clean_metadata(metadata)
    with transaction.atomic():
        if record is None:
            record = lead_get(lead_id=lead_id or 0)
        if type == ActivityType.NOTE:
            note = note_add(record=record, actor=actor, body=body)
            anchor = {str(record._meta.model_name): record}
            return Activity.objects.get(type=ActivityType.NOTE, metadata__note_id=note.pk, **anchor)
        message_id = thread_id = ""
        if type == ActivityType.EMAIL:
            email = logged_email(metadata)
            message_id, thread_id = email.message_id, _thread_of(record, email)
        activity = activity_record(
            record=record,
            type=type,
            actor_id=actor.pk if actor else None,
            subject=subject,
            body=body,
            metadata=metadata,
            occurred_at=occurred_at,
            message_id=message_id,
            thread_id=thread_id,
        )
        publish_on_commit(
            f"{record._meta.model_name}.activity_logged",
            record_id=record.pk,
            actor_id=activity.actor_id,
            owner_id=record.owner_id,
            activity_id=activity.pk,
            type=type,
        )
    return activity


@dataclass
class EmailRecorded:
    activity: Activity
    created: bool


def email_record(
    *, lead_id: int, actor: User | None, raw: str | None = None, fields: dict[str, Any] | None = None
) -> EmailRecorded:
    """Record an email on a lead, from a raw RFC 5322 message or its parsed fields.

    Message-ID, In-Reply-To and References put it in a thread; a Message-ID already recorded on this lead
    returns the existing activity (created=False) instead of a second one."""
    message = parse_raw(raw) if raw is not None else parse_fields(fields or {})
    lead = lead_get(lead_id=lead_id)
    existing = Activity.objects.filter(lead=lead, message_id=message.message_id).first()
    if existing is not None:
        return EmailRecorded(existing, False)
    thread_id = _thread_of(lead, message)
    direction = "inbound" if lead.email and lead.email in message.from_addresses else "outbound"
    try:
        with transaction.atomic():
            activity = activity_record(
                lead=lead,
                type=ActivityType.EMAIL,
                actor_id=actor.pk if actor else None,
                subject=message.subject,
                body=message.body,
                occurred_at=message.date,
                metadata={**message.headers, "direction": direction},
                message_id=message.message_id,
                thread_id=thread_id,
            )
            publish_on_commit(
                "lead.email_recorded",
                record_id=lead.pk,
                actor_id=activity.actor_id,
                owner_id=lead.owner_id,
                activity_id=activity.pk,
                direction=direction,
                thread_id=thread_id,
            )
    except IntegrityError:  # the same message recorded concurrently
        return EmailRecorded(Activity.objects.get(lead=lead, message_id=message.message_id), False)
    return EmailRecorded(activity, True)


def email_thread_of(record: Record, message: ParsedEmail | LoggedEmail) -> str:
    """The thread an email joins on `record`'s timeline (the same rule for every way an email arrives:
    logged, recorded, received by the inbound receiver)."""
    return _thread_of(record, message)


def _thread_of(record: Record, message: ParsedEmail | LoggedEmail) -> str:
    """The thread is the root message's id: the parent's thread when we have the parent, else the first
    of References, else the parent's id, else this message starts a thread."""
    emails = Activity.objects.filter(**{str(record._meta.model_name): record}).exclude(message_id="")
    if message.in_reply_to:
        parent_thread = (
            emails.filter(message_id=message.in_reply_to).values_list("thread_id", flat=True).first()
        )
        if parent_thread:
            return parent_thread
    if message.references:
        known = dict(emails.filter(message_id__in=message.references).values_list("message_id", "thread_id"))
        for reference in message.references:
            if reference in known:
                return known[reference]
        return message.references[0]
    return message.in_reply_to or message.message_id
