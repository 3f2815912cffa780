"""Exporting everything held about one person (a GDPR-style access request) as one JSON document: their
leads and contacts with their timelines, notes, tasks and sequence enrolments, a contact's deals, and the
emails naming their address on other records."""

from __future__ import annotations

from typing import Any

from django.db.models import GeneratedField, Model, Q
from django.utils import timezone

from shared_apps.organizations.context import current_organization
from tenant_apps.activities.models import Activity, Note
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.privacy import people
from tenant_apps.privacy.services import suppression_of
from tenant_apps.records.services import plain
from tenant_apps.sequences.models import Enrollment, SentStep
from tenant_apps.tasks.models import Task

FORMAT = "leadpulse.privacy-export/1"


def row(instance: Model, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """The instance's stored fields (foreign keys as ids), as JSON values; derived search columns left out."""
    out: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if isinstance(field, GeneratedField) or field.name in leave_out:
            continue
        out[field.name if not field.is_relation else field.attname] = plain(getattr(instance, field.attname))
    return out


def _activity(activity: Activity) -> dict[str, Any]:
    return row(activity)


def _on(record_field: str, record: Model) -> dict[str, Any]:
    return {
        "activities": [
            _activity(a) for a in Activity.objects.filter(**{record_field: record}).order_by("id")
        ],
        "notes": [row(note) for note in Note.objects.filter(**{record_field: record}).order_by("id")],
        "tasks": [row(task) for task in Task.objects.filter(**{record_field: record}).order_by("id")],
    }


def _enrollments(lead: Lead) -> list[dict[str, Any]]:
    enrollments = []
    for enrollment in Enrollment.objects.filter(lead=lead).select_related("sequence").order_by("id"):
        item = row(enrollment)
        item["sequence_name"] = enrollment.sequence.name
        item["emails"] = [
            row(sent, leave_out=("enrollment",))
            for sent in SentStep.objects.filter(enrollment=enrollment).order_by("position")
        ]
        enrollments.append(item)
    return enrollments


def person_export(*, email: str) -> dict[str, Any]:
    """The archive for `email`: every lead and contact with that address (deleted ones too: they are still
    held), each with what hangs on it; the emails on other records naming the address; whether it is on the
    do-not-contact list. Read in one snapshot (the caller's transaction)."""
    leads = list(people.leads_of(email))
    contacts = list(people.contacts_of(email))
    on_records = {"lead": {lead.pk for lead in leads}, "contact": {contact.pk for contact in contacts}}
    elsewhere = [
        _activity(activity)
        for activity in people.emails_naming(email)
        if activity.lead_id not in on_records["lead"] and activity.contact_id not in on_records["contact"]
    ]
    entry = suppression_of(email)
    return {
        "format": FORMAT,
        "email": email,
        "organization": current_organization().slug,
        "generated_at": timezone.now().isoformat(),
        "leads": [
            {**row(lead), **_on("lead", lead), "sequence_enrollments": _enrollments(lead)} for lead in leads
        ],
        "contacts": [
            {
                **row(contact),
                **_on("contact", contact),
                "deals": [
                    row(deal)
                    for deal in Opportunity.objects.filter(Q(primary_contact=contact)).order_by("id")
                ],
            }
            for contact in contacts
        ],
        "emails_elsewhere": elsewhere,
        "do_not_contact": (
            {"reason": entry.reason, "created_at": entry.created_at.isoformat()} if entry else None
        ),
    }
