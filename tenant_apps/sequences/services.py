"""Every write on sequences and enrollments, and what stops an enrollment.

A lead enrolled in a sequence is sent its steps one by one (tenant_apps.sequences.sending), each `delay` after
the previous one, until the last step went out (completed) or something stops it: the lead replies, is won or
lost, is unenrolled, or the sequence is deleted. Stopping is announced by events (see subscribe_to_events) and
checked again under the enrollment's row lock right before every send, so a stopped enrollment never sends
another email.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.db.models.functions import Coalesce
from django.template import TemplateSyntaxError
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import DomainEvent, publish_on_commit, subscribe
from shared_apps.core.validation import clean_text
from shared_apps.organizations.context import organization_context
from shared_apps.users.models import User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.services import activity_record
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.privacy.services import suppression_of
from tenant_apps.records import visibility
from tenant_apps.sequences.exceptions import (
    AlreadyEnrolled,
    EnrollmentNotActive,
    EnrollmentNotFound,
    LeadClosed,
    SequenceEmpty,
    SequenceNotFound,
)
from tenant_apps.sequences.models import (
    MAX_DELAY_DAYS,
    MAX_STEPS,
    Enrollment,
    EnrollmentStatus,
    SentStep,
    Sequence,
    SequenceStep,
    StopReason,
)
from tenant_apps.sequences.selectors import enrollments_for
from tenant_apps.sequences.templating import compile_template

logger = logging.getLogger(__name__)

STEP_FIELDS = ("subject", "body", "delay_days", "delay_hours")
SEQUENCE_FIELDS = ("name", "description", "steps")
MAX_ID = 2**63 - 1
CLOSED_STAGES = {Stage.WON: StopReason.WON, Stage.LOST: StopReason.LOST}


# ---------------------------------------------------------------------------------------------- sequences


def _clean_int(value: Any, *, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(field, f"A whole number from {low} to {high}.")
    return value


def _clean_template(value: Any, *, field: str, position: int, max_length: int) -> str:
    source = clean_text(value, field=field, max_length=max_length, required=True)
    try:
        compile_template(source)
    except TemplateSyntaxError as error:
        raise InvalidInput(
            field, f"Step {position}: {error}", code="template_invalid", position=position
        ) from None
    return source


def _clean_steps(steps: Any) -> list[dict[str, Any]]:
    """Each step's fields, typed and bounded; each template compiled, so an error names its step."""
    if not isinstance(steps, list | tuple):
        raise InvalidInput("steps", "Expected a list of steps.")
    if len(steps) > MAX_STEPS:
        raise InvalidInput("steps", f"At most {MAX_STEPS} steps.")
    cleaned = []
    for index, step in enumerate(steps):
        prefix, position = f"steps[{index}]", index + 1
        if not isinstance(step, dict):
            raise InvalidInput(prefix, f"Step {position}: expected an object.", position=position)
        unknown = sorted(set(step) - set(STEP_FIELDS))
        if unknown:
            raise InvalidInput(
                f"{prefix}.{unknown[0]}", f"Step {position}: unknown field.", position=position
            )
        cleaned.append(
            {
                "subject": _clean_template(
                    step.get("subject"), field=f"{prefix}.subject", position=position, max_length=300
                ),
                "body": _clean_template(
                    step.get("body"), field=f"{prefix}.body", position=position, max_length=20_000
                ),
                "delay_days": _clean_int(
                    step.get("delay_days", 0), field=f"{prefix}.delay_days", low=0, high=MAX_DELAY_DAYS
                ),
                "delay_hours": _clean_int(
                    step.get("delay_hours", 0), field=f"{prefix}.delay_hours", low=0, high=23
                ),
            }
        )
    return cleaned


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "name":
            cleaned["name"] = clean_text(value, field="name", max_length=200, required=True)
        elif key == "description":
            cleaned["description"] = clean_text(value, field="description", max_length=2000)
        elif key == "steps":
            cleaned["steps"] = _clean_steps(value)
    return cleaned


@transaction.atomic
def sequence_create(*, actor: User | None, name: Any, description: Any = "", steps: Any = ()) -> Sequence:
    """A sequence with its steps, in the given order. Every template must compile (see templating)."""
    cleaned = _clean({"name": name, "description": description, "steps": list(steps)})
    actor_id = actor.pk if actor else None
    sequence = Sequence.objects.create(
        name=cleaned["name"], description=cleaned["description"], created_by_id=actor_id
    )
    SequenceStep.objects.bulk_create(
        SequenceStep(sequence=sequence, position=position, **step)
        for position, step in enumerate(cleaned["steps"], start=1)
    )
    publish_on_commit(
        "sequence.created", record_id=sequence.pk, actor_id=actor_id, steps=len(cleaned["steps"])
    )
    return sequence


def _locked_sequence(sequence_id: int) -> Sequence:
    sequence = Sequence.objects.alive().select_for_update().filter(pk=sequence_id).first()
    if sequence is None:
        raise SequenceNotFound(id=sequence_id)
    return sequence


@transaction.atomic
def sequence_update(*, sequence_id: int, actor: User | None, changes: dict[str, Any]) -> Sequence:
    """Change the name, the description or the steps. `steps` replaces the whole list: steps are rewritten
    in place by position, so running enrollments carry on from their position with the new content; a
    changed delay reschedules their pending step, and enrollments past a removed last step complete."""
    unknown = set(changes) - set(SEQUENCE_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "Unknown field.")
    cleaned = _clean(changes)
    sequence = _locked_sequence(sequence_id)
    changed: list[str] = [
        key for key in ("name", "description") if key in cleaned and getattr(sequence, key) != cleaned[key]
    ]
    for key in changed:
        setattr(sequence, key, cleaned[key])
    if "steps" in cleaned and _replace_steps(sequence, cleaned["steps"]):
        changed.append("steps")
    if changed:
        sequence.save()
        publish_on_commit(
            "sequence.updated", record_id=sequence.pk, actor_id=actor.pk if actor else None, fields=changed
        )
    return sequence


def _replace_steps(sequence: Sequence, steps: list[dict[str, Any]]) -> bool:
    existing = {step.position: step for step in SequenceStep.objects.filter(sequence=sequence)}
    changed = False
    for position, fields in enumerate(steps, start=1):
        step = existing.pop(position, None)
        if step is None:
            SequenceStep.objects.create(sequence=sequence, position=position, **fields)
            changed = True
            continue
        delay = step.delay
        diff = [key for key, value in fields.items() if getattr(step, key) != value]
        if not diff:
            continue
        for key in diff:
            setattr(step, key, fields[key])
        step.save(update_fields=diff)
        changed = True
        if step.delay != delay:
            # the pending step of running enrollments counts from their last send (or enrollment) again
            Enrollment.objects.filter(
                sequence=sequence, status=EnrollmentStatus.ACTIVE, next_position=position
            ).update(
                next_send_at=ExpressionWrapper(
                    Coalesce(F("last_sent_at"), F("enrolled_at")) + Value(step.delay),
                    output_field=DateTimeField(),
                )
            )
    if existing:
        SequenceStep.objects.filter(pk__in=[step.pk for step in existing.values()]).delete()
        changed = True
        now = timezone.now()
        for enrollment in Enrollment.objects.select_for_update().filter(
            sequence=sequence, status=EnrollmentStatus.ACTIVE, next_position__gt=len(steps)
        ):
            complete_enrollment(enrollment, sequence=sequence, now=now)
    return changed


@transaction.atomic
def sequence_delete(*, sequence_id: int, actor: User | None) -> None:
    """Soft delete: the sequence disappears, its running enrollments stop (reason sequence_deleted) and the
    history of what was sent stays."""
    sequence = _locked_sequence(sequence_id)
    now = timezone.now()
    sequence.deleted_at = now
    sequence.save(update_fields=["deleted_at", "updated_at"])
    actor_id = actor.pk if actor else None
    for enrollment in Enrollment.objects.select_for_update().filter(
        sequence=sequence, status=EnrollmentStatus.ACTIVE
    ):
        stop_enrollment(
            enrollment, reason=StopReason.SEQUENCE_DELETED, actor_id=actor_id, now=now, sequence=sequence
        )
    publish_on_commit("sequence.deleted", record_id=sequence.pk, actor_id=actor_id)


# -------------------------------------------------------------------------------------------- enrollments


@transaction.atomic
def sequence_enroll(
    *, sequence_id: int, lead_id: Any, actor: User | None, now: datetime | None = None
) -> Enrollment:
    """Enroll a live, open lead with an email address in a sequence that has steps, once at a time per
    sequence; its first step is scheduled `delay` after now. The lead is locked, so a concurrent move to
    WON or LOST either comes first (and refuses this) or stops the new enrollment right after."""
    if isinstance(lead_id, bool) or not isinstance(lead_id, int) or not 1 <= lead_id <= MAX_ID:
        raise InvalidInput("lead", "A lead id is required.")
    now = now or timezone.now()
    sequence = Sequence.objects.alive().filter(pk=sequence_id).first()
    if sequence is None:
        raise SequenceNotFound(id=sequence_id)
    lead = Lead.objects.alive().select_for_update(no_key=True).filter(pk=lead_id).first()
    if lead is None or not visibility.can_see(actor, lead):  # a hidden lead answers like a missing one
        raise InvalidInput("lead", "No such lead.", code="unknown_record", id=lead_id)
    if not lead.email:
        raise InvalidInput("lead", "The lead has no email address to send the sequence to.", code="no_email")
    suppressed = suppression_of(lead.email)
    if suppressed is not None:
        raise InvalidInput(
            "lead",
            "The lead's email address is on the do-not-contact list.",
            code="do_not_contact",
            reason=suppressed.reason,
        )
    if lead.stage in CLOSED_STAGES:
        raise LeadClosed(stage=lead.stage)
    first = SequenceStep.objects.filter(sequence=sequence, position=1).first()
    if first is None:
        raise SequenceEmpty(id=sequence.pk)
    running = Enrollment.objects.filter(sequence=sequence, lead=lead, status=EnrollmentStatus.ACTIVE).first()
    if running is not None:
        raise AlreadyEnrolled(enrollment_id=running.pk)
    actor_id = actor.pk if actor else None
    try:
        with transaction.atomic():
            enrollment = Enrollment.objects.create(
                sequence=sequence,
                lead=lead,
                enrolled_by_id=actor_id,
                enrolled_at=now,
                next_position=1,
                next_send_at=now + first.delay,
            )
    except IntegrityError:  # enrolled concurrently (enrollment_one_active)
        raise AlreadyEnrolled() from None
    activity_record(
        lead=lead,
        type=ActivityType.SYSTEM,
        actor_id=actor_id,
        subject=f"Enrolled in sequence: {sequence.name}",
        metadata={"event": "sequence_enrolled", "sequence_id": sequence.pk, "enrollment_id": enrollment.pk},
    )
    publish_on_commit(
        "sequence.enrolled",
        record_id=enrollment.pk,
        actor_id=actor_id,
        sequence_id=sequence.pk,
        lead_id=lead.pk,
    )
    return enrollment


@transaction.atomic
def sequence_unenroll(*, enrollment_id: int, actor: User | None) -> Enrollment:
    """Stop a running enrollment (reason unenrolled); nothing more is sent, even by a job already queued.
    A finished enrollment is a conflict."""
    enrollment = (
        enrollments_for(actor)
        .select_for_update(of=("self",))  # not the sequence row it joins
        .filter(pk=enrollment_id, sequence__deleted_at__isnull=True)
        .first()
    )
    if enrollment is None:
        raise EnrollmentNotFound(id=enrollment_id)
    if enrollment.status != EnrollmentStatus.ACTIVE:
        raise EnrollmentNotActive(status=enrollment.status, stop_reason=enrollment.stop_reason)
    stop_enrollment(
        enrollment, reason=StopReason.UNENROLLED, actor_id=actor.pk if actor else None, now=timezone.now()
    )
    return enrollment


def enrollments_stop(*, lead_id: int, reason: str, details: dict[str, Any] | None = None) -> list[int]:
    """Stop the lead's running enrollments; returns the ids stopped. Each is locked and checked again, so
    an enrollment that finished meanwhile is left alone."""
    stopped = []
    ids = Enrollment.objects.filter(lead_id=lead_id, status=EnrollmentStatus.ACTIVE).values_list(
        "pk", flat=True
    )
    for enrollment_id in list(ids):
        with transaction.atomic():
            enrollment = Enrollment.objects.select_for_update().filter(pk=enrollment_id).first()
            if enrollment is not None and enrollment.status == EnrollmentStatus.ACTIVE:
                stop_enrollment(enrollment, reason=reason, actor_id=None, now=timezone.now(), details=details)
                stopped.append(enrollment_id)
    return stopped


@dataclass(frozen=True)
class Reply:
    """An inbound email recorded on a lead's timeline, as the sequences see it."""

    lead_id: int
    activity_id: int
    thread_id: str
    occurred_at: datetime


def enrollments_stop_on_reply(*, lead_id: int, activity_id: int) -> list[int]:
    """An inbound email stops the lead's running enrollments (reason replied) when it is threaded to one of
    their emails (In-Reply-To/References) or arrived after the enrollment: either way the lead wrote."""
    if not Enrollment.objects.filter(lead_id=lead_id, status=EnrollmentStatus.ACTIVE).exists():
        return []  # the common case, one query (every inbound email on a lead comes this way)
    email = Activity.objects.filter(pk=activity_id, lead_id=lead_id, type=ActivityType.EMAIL).first()
    if email is None or email.metadata.get("direction") != "inbound":
        return []
    return enrollments_stop_on_replies(
        replies=[Reply(lead_id, int(email.pk), email.thread_id, email.occurred_at)]
    )


def enrollments_stop_on_replies(*, replies: list[Reply]) -> list[int]:
    """enrollments_stop_on_reply for many inbound emails at once (a batch of received mail): one query finds
    the running enrollments of all their leads; each one found is stopped as enrollments_stop_on_reply
    stops it (locked and checked again), by the first of the lead's emails that answers it."""
    by_lead: dict[int, list[Reply]] = {}
    for reply in replies:
        by_lead.setdefault(reply.lead_id, []).append(reply)
    if not by_lead:
        return []
    running = Enrollment.objects.filter(lead_id__in=list(by_lead), status=EnrollmentStatus.ACTIVE)
    stopped = []
    for enrollment in running.order_by("pk"):
        threads = threads_of(enrollment)
        for reply in by_lead[enrollment.lead_id]:
            threaded = bool(reply.thread_id) and reply.thread_id in threads
            if not (threaded or reply.occurred_at >= enrollment.enrolled_at):
                continue
            details = {"activity_id": reply.activity_id, "thread_id": reply.thread_id, "threaded": threaded}
            with transaction.atomic():
                locked = Enrollment.objects.select_for_update().filter(pk=enrollment.pk).first()
                if locked is not None and locked.status == EnrollmentStatus.ACTIVE:
                    stop_enrollment(
                        locked, reason=StopReason.REPLIED, actor_id=None, now=timezone.now(), details=details
                    )
                    stopped.append(locked.pk)
            break
    return stopped


def threads_of(enrollment: Enrollment) -> set[str]:
    """The threads of the enrollment's emails; a reservation's Message-ID counts too (a reply can name an
    email whose activity was never recorded)."""
    rows = SentStep.objects.filter(enrollment=enrollment).values_list("message_id", "activity__thread_id")
    return {value for row in rows for value in row if value}


def stop_enrollment(
    enrollment: Enrollment,
    *,
    reason: str,
    actor_id: int | None,
    now: datetime,
    details: dict[str, Any] | None = None,
    sequence: Sequence | None = None,
) -> None:
    """The caller holds the enrollment's row lock."""
    sequence = sequence or Sequence.objects.get(pk=enrollment.sequence_id)
    enrollment.status = EnrollmentStatus.STOPPED
    enrollment.stop_reason = reason
    enrollment.stop_details = details or {}
    enrollment.finished_at = now
    enrollment.next_send_at = None
    enrollment.save(update_fields=["status", "stop_reason", "stop_details", "finished_at", "next_send_at"])
    activity_record(
        lead=Lead(pk=enrollment.lead_id),
        type=ActivityType.SYSTEM,
        actor_id=actor_id,
        subject=f"Sequence stopped: {sequence.name} ({StopReason(reason).label.lower()})",
        metadata={
            "event": "sequence_stopped",
            "sequence_id": sequence.pk,
            "enrollment_id": enrollment.pk,
            "reason": reason,
            **(details or {}),
        },
    )
    publish_on_commit(
        "sequence.enrollment_stopped",
        record_id=enrollment.pk,
        actor_id=actor_id,
        sequence_id=sequence.pk,
        lead_id=enrollment.lead_id,
        reason=reason,
    )


def complete_enrollment(enrollment: Enrollment, *, now: datetime, sequence: Sequence | None = None) -> None:
    """The caller holds the enrollment's row lock."""
    sequence = sequence or Sequence.objects.get(pk=enrollment.sequence_id)
    enrollment.status = EnrollmentStatus.COMPLETED
    enrollment.finished_at = now
    enrollment.next_send_at = None
    enrollment.save(update_fields=["status", "finished_at", "next_send_at", "next_position", "last_sent_at"])
    activity_record(
        lead=Lead(pk=enrollment.lead_id),
        type=ActivityType.SYSTEM,
        actor_id=None,
        subject=f"Sequence completed: {sequence.name}",
        metadata={"event": "sequence_completed", "sequence_id": sequence.pk, "enrollment_id": enrollment.pk},
    )
    publish_on_commit(
        "sequence.enrollment_completed",
        record_id=enrollment.pk,
        sequence_id=sequence.pk,
        lead_id=enrollment.lead_id,
    )


# ------------------------------------------------------------------------------------------------- events


def on_email_recorded(event: DomainEvent) -> None:
    if event.data.get("direction") != "inbound" or not isinstance(event.data.get("activity_id"), int):
        return
    with organization_context(event.schema_name):
        enrollments_stop_on_reply(lead_id=event.record_id, activity_id=event.data["activity_id"])


def on_emails_recorded(events: list[DomainEvent]) -> None:
    """on_email_recorded for many events of one transaction: one query finds whether any of their leads has
    a running enrollment (most have none); only those leads' emails are looked at further."""
    inbound = [
        event
        for event in events
        if event.data.get("direction") == "inbound" and isinstance(event.data.get("activity_id"), int)
    ]
    if not inbound:
        return
    with organization_context(inbound[0].schema_name):
        running = set(
            Enrollment.objects.filter(
                lead_id__in={event.record_id for event in inbound}, status=EnrollmentStatus.ACTIVE
            ).values_list("lead_id", flat=True)
        )
        for event in inbound:
            if event.record_id in running:
                enrollments_stop_on_reply(lead_id=event.record_id, activity_id=event.data["activity_id"])


def on_stage_changed(event: DomainEvent) -> None:
    current = event.data.get("to")
    if current not in CLOSED_STAGES:
        return
    with organization_context(event.schema_name):
        enrollments_stop(
            lead_id=event.record_id, reason=CLOSED_STAGES[Stage(current)], details={"stage": current}
        )


def on_lead_gone(event: DomainEvent) -> None:
    """A deleted lead, or leads merged into another one: nothing more goes to them."""
    if event.topic == "lead.merged":
        lead_ids, cause = [i for i in event.data.get("merged_ids", []) if isinstance(i, int)], "merged"
    else:
        lead_ids, cause = [event.record_id], "deleted"
    with organization_context(event.schema_name):
        for lead_id in lead_ids:
            enrollments_stop(lead_id=lead_id, reason=StopReason.LEAD_UNAVAILABLE, details={"cause": cause})


_subscribed: list[Any] = []


def subscribe_to_events() -> None:
    """Called once from AppConfig.ready()."""
    if not _subscribed:
        _subscribed.append(subscribe("lead.email_recorded", on_email_recorded, many=on_emails_recorded))
        _subscribed.append(subscribe("lead.stage_changed", on_stage_changed))
        _subscribed.append(subscribe("lead.deleted", on_lead_gone))
        _subscribed.append(subscribe("lead.merged", on_lead_gone))
