"""Erasing one person (a GDPR-style erasure request): their leads' and contacts' personal fields, what the
timeline says about them, their notes, tasks and sequence emails are redacted in place, and the address goes
on the do-not-contact list so that imports and sequences do not bring them back."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from shared_apps.core.timeline import timeline_switch
from shared_apps.users.models import User
from tenant_apps.activities.models import Activity, ActivityType, Note
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.notifications.models import Notification
from tenant_apps.privacy import people
from tenant_apps.privacy.models import SuppressionReason
from tenant_apps.privacy.services import suppress
from tenant_apps.sequences.models import Enrollment, EnrollmentStatus, SentStep, StopReason
from tenant_apps.sequences.services import stop_enrollment
from tenant_apps.tasks.models import Task

ERASED_NAME = "Erased person"
REDACTED = "[redacted]"

# Metadata that says what happened, not who to: kept on a redacted activity. Everything else (addresses,
# free-text reasons, the old and new values of an edit, email headers) goes.
STRUCTURAL_KEYS = frozenset(
    {
        "event",
        "direction",
        "source",
        "via",
        "owner_id",
        "account_id",
        "contact_id",
        "lead_id",
        "opportunity_id",
        "import_id",
        "sequence_id",
        "enrollment_id",
        "status_change_id",
        "stage",
        "date",
    }
)
# Email ids: kept as digests (message_ids), so that threads stay threads.
ID_KEYS = ("message_id", "in_reply_to", "references")
# On these types `from` and `to` are stages, statuses or owner ids (on an email they are addresses).
FROM_TO_TYPES = (ActivityType.STAGE_CHANGE, ActivityType.STATUS_CHANGE, ActivityType.OWNER_CHANGE)


@dataclass
class Erased:
    leads: int = 0
    contacts: int = 0
    activities: int = 0
    notes: int = 0
    tasks: int = 0
    enrollments_stopped: int = 0
    sequence_emails: int = 0
    notifications: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def message_id(value: str) -> str:
    """A Message-ID without what it may tell (a name, an address, a host): a digest of it, the same for the
    same id wherever it is redacted."""
    if not value:
        return ""
    return f"<{hashlib.sha256(value.encode()).hexdigest()[:40]}@redacted.invalid>"


def message_ids(value: Any) -> Any:
    if isinstance(value, str):
        return message_id(value)
    if isinstance(value, list):
        return [message_id(str(item)) for item in value]
    return None


def redacted_metadata(activity: Activity) -> dict[str, Any]:
    metadata = activity.metadata if isinstance(activity.metadata, dict) else {}
    kept = {key: value for key, value in metadata.items() if key in STRUCTURAL_KEYS}
    kept.update({key: message_ids(metadata[key]) for key in ID_KEYS if key in metadata})
    if activity.type in FROM_TO_TYPES:
        kept.update({key: metadata[key] for key in ("from", "to") if key in metadata})
    if isinstance(metadata.get("changes"), dict):  # an edit: which fields changed, not their values
        kept["fields"] = sorted(metadata["changes"])
    kept["redacted"] = True
    return kept


def _redact_activity(activity: Activity) -> None:
    activity.subject = f"{ActivityType(activity.type).label} ({REDACTED})"
    activity.body = ""
    activity.metadata = redacted_metadata(activity)
    activity.message_id = message_id(activity.message_id)
    activity.thread_id = message_id(activity.thread_id)
    activity.save(update_fields=["subject", "body", "metadata", "message_id", "thread_id"])


def _erase_lead(lead: Lead) -> None:
    lead.name, lead.email, lead.phone, lead.phone_normalized = ERASED_NAME, "", "", ""
    lead.company, lead.identity_key, lead.tags = "", "", []
    lead.save(update_fields=["name", "email", "phone", "phone_normalized", "company", "identity_key", "tags"])


def _erase_contact(contact: Contact) -> None:
    contact.name, contact.email, contact.phone, contact.phone_normalized = ERASED_NAME, "", "", ""
    contact.title, contact.tags = "", []
    contact.save(update_fields=["name", "email", "phone", "phone_normalized", "title", "tags"])


def _notifications_about(leads: list[Lead], contacts: list[Contact], task_ids: list[int]) -> Any:
    """Members' notifications naming the person's records or tasks (reminders, rules): their text quotes
    names and titles."""
    lead_ids, contact_ids = [lead.pk for lead in leads], [contact.pk for contact in contacts]
    return Notification.objects.filter(
        Q(data__record__type="lead", data__record__id__in=lead_ids)
        | Q(data__record__type="contact", data__record__id__in=contact_ids)
        | Q(data__lead_id__in=lead_ids)
        | Q(data__task_id__in=task_ids)
    )


@transaction.atomic
def person_erase(*, email: str, actor: User | None) -> Erased:
    """Erase everything personal held about `email` in this organization, in one transaction; idempotent
    (a second run finds nothing left to erase and answers zeros). The timeline keeps every entry (type,
    actor, moments, records, thread), without subject, body or personal metadata; running enrollments of
    the person's leads stop (reason do_not_contact). The address goes on the do-not-contact list (erased)
    even when no record has it, so nothing brings the person back later."""
    leads = list(people.leads_of(email).select_for_update())
    contacts = list(people.contacts_of(email).select_for_update())
    erased = Erased(leads=len(leads), contacts=len(contacts))
    now = timezone.now()
    for enrollment in Enrollment.objects.select_for_update().filter(
        lead__in=leads, status=EnrollmentStatus.ACTIVE
    ):
        stop_enrollment(
            enrollment, reason=StopReason.DO_NOT_CONTACT, actor_id=actor.pk if actor else None, now=now
        )
        erased.enrollments_stopped += 1
    erased.sequence_emails = SentStep.objects.filter(
        Q(enrollment__lead__in=leads) | Q(recipient=email)
    ).update(recipient="", subject=REDACTED, body="")  # their Message-IDs are ours (make_msgid): kept
    activities = people.activities_about(leads, contacts, email)
    with timeline_switch("redact"):
        for activity in activities:
            _redact_activity(activity)
    erased.activities = len(activities)
    erased.notes = Note.objects.filter(Q(lead__in=leads) | Q(contact__in=contacts)).update(body=REDACTED)
    tasks = Task.objects.filter(Q(lead__in=leads) | Q(contact__in=contacts))
    task_ids = list(tasks.values_list("pk", flat=True))
    erased.tasks = tasks.update(title=f"Task ({REDACTED})", description="", updated_at=now)
    erased.notifications = _notifications_about(leads, contacts, task_ids).update(
        title=f"Notification ({REDACTED})", body=""
    )
    for lead in leads:
        _erase_lead(lead)
    for contact in contacts:
        _erase_contact(contact)
    suppress(email, SuppressionReason.ERASED, actor=actor)
    return erased
