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
from tenant_apps.activities.emails import ParsedEmail, parse_fields, parse_raw
from tenant_apps.activities.models import CONTACT_TYPES, LOGGABLE_TYPES, Activity, ActivityType
from tenant_apps.leads.models import Lead
from tenant_apps.leads.selectors import lead_get


def activity_record(
    *,
    lead: Lead,
    type: str,
    actor_id: int | None,
    subject: str = "",
    body: str = "",
    metadata: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    message_id: str = "",
    thread_id: str = "",
) -> Activity:
    """Append one activity. Callers hold the transaction that made the change it records.

    Contact activities (email, call, meeting, note) move the lead's last_contacted_at forward, never back.
    """
    now = timezone.now()
    occurred_at = occurred_at or now
    activity = Activity.objects.create(
        lead=lead,
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
    if type in CONTACT_TYPES and occurred_at <= now:
        Lead.objects.filter(pk=lead.pk).filter(
            Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=occurred_at)
        ).update(last_contacted_at=occurred_at, updated_at=F("updated_at"))
        if lead.last_contacted_at is None or lead.last_contacted_at < occurred_at:
            lead.last_contacted_at = occurred_at
    return activity


def activity_log(
    *,
    lead_id: int,
    actor: User | None,
    type: str,
    subject: Any = "",
    body: Any = "",
    metadata: Any = None,
    occurred_at: datetime | None = None,
) -> Activity:
    """A member logs a call, meeting, email, note or task on a lead's timeline."""
    if type not in LOGGABLE_TYPES:
        raise InvalidInput(
            "type", f"Members log one of {', '.join(LOGGABLE_TYPES)}; the rest are written by LeadPulse."
        )
    subject = clean_text(subject, field="subject", max_length=300)
    body = clean_text(body, field="body", max_length=100_000)
    metadata = clean_metadata(metadata)
    with transaction.atomic():
        lead = lead_get(lead_id=lead_id)
        activity = activity_record(
            lead=lead,
            type=type,
            actor_id=actor.pk if actor else None,
            subject=subject,
            body=body,
            metadata=metadata,
            occurred_at=occurred_at,
        )
        publish_on_commit(
            "lead.activity_logged",
            record_id=lead.pk,
            actor_id=activity.actor_id,
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
                activity_id=activity.pk,
                direction=direction,
                thread_id=thread_id,
            )
    except IntegrityError:  # the same message recorded concurrently
        return EmailRecorded(Activity.objects.get(lead=lead, message_id=message.message_id), False)
    return EmailRecorded(activity, True)


def _thread_of(lead: Lead, message: ParsedEmail) -> str:
    """The thread is the root message's id: the parent's thread when we have the parent, else the first
    of References, else the parent's id, else this message starts a thread."""
    if message.in_reply_to:
        parent_thread = (
            Activity.objects.filter(lead=lead, message_id=message.in_reply_to)
            .values_list("thread_id", flat=True)
            .first()
        )
        if parent_thread:
            return parent_thread
    if message.references:
        known = dict(
            Activity.objects.filter(lead=lead, message_id__in=message.references).values_list(
                "message_id", "thread_id"
            )
        )
        for reference in message.references:
            if reference in known:
                return known[reference]
        return message.references[0]
    return message.in_reply_to or message.message_id
