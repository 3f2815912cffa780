"""The sending of sequence steps: due enrollments found, each step reserved under the enrollment's row lock
(checked again for everything that stops an enrollment), sent, and recorded on the lead's timeline; a send
that died is never repeated.
"""

from __future__ import annotations

import logging
import smtplib
from collections import Counter
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from shared_apps.core.events import publish_on_commit
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.services import email_record
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.mail.outbound import outbound_headers, outbound_message_id, sender_for
from tenant_apps.mail.smtp import outbound_connection
from tenant_apps.mail.unsubscribe import unsubscribe_footer, unsubscribe_headers
from tenant_apps.privacy.services import suppression_of
from tenant_apps.sequences.exceptions import SequenceSendFailed
from tenant_apps.sequences.models import (
    Enrollment,
    EnrollmentStatus,
    SentStep,
    SentStepStatus,
    Sequence,
    SequenceStep,
    StopReason,
)
from tenant_apps.sequences.selectors import enrollments_due
from tenant_apps.sequences.services import CLOSED_STAGES, complete_enrollment, stop_enrollment, threads_of
from tenant_apps.sequences.templating import context_for, render

logger = logging.getLogger(__name__)

SEND_BATCH = 200
# A reservation older than this belongs to a send that died (rq's job timeout is 10 minutes): its email may
# or may not have gone out, and it is never sent again.
STALE_RESERVATION = timedelta(minutes=15)


def sequence_steps_send_due(*, now: datetime | None = None) -> dict[str, int]:
    """Send every step that is due (up to SEND_BATCH a run; the rest next run); returns outcome counts.
    One enrollment failing (mail server down) does not keep the others from going out."""
    now = now or timezone.now()
    ids = list(
        enrollments_due(now=now).order_by("next_send_at", "pk").values_list("pk", flat=True)[:SEND_BATCH]
    )
    outcomes: Counter[str] = Counter()
    for enrollment_id in ids:
        try:
            outcomes[enrollment_step_send(enrollment_id=enrollment_id, now=now)] += 1
        except Exception:
            logger.exception("sending the next step of enrollment %s failed", enrollment_id)
            outcomes["error"] += 1
    return dict(outcomes)


def enrollment_step_send(*, enrollment_id: int, now: datetime | None = None) -> str:
    """Send an enrollment's due step, at most once; returns what happened ("sent", "not_due", "stopped",
    "completed", "in_flight", "delivery_unknown", "delivery_failed", "inactive", "busy").

    Two transactions, both holding the enrollment's row lock:
    1. reserve: check the enrollment is still running and due and that nothing stops it (lead replied,
       won/lost, deleted, sequence deleted), render the step, generate its Message-ID and write the
       SentStep row (unique per enrollment and step), then commit;
    2. deliver: lock again, check again (an unenroll or a reply may have come in between: the reservation
       is then dropped and nothing is sent), send through Django's email backend with that Message-ID,
       record the EMAIL activity (so a reply threads to it), mark the SentStep sent and schedule the next
       step, then commit.

    A retried or concurrent job finds the reservation and sends nothing. The trade-off that remains: if
    the process dies after the mail server took the email but before (2) commits, the reservation stays
    "pending" and the email is never sent again, so it went out once or not at all: at most once, never
    twice. After STALE_RESERVATION such a reservation is marked "unknown" and the enrollment stops
    (reason delivery_unknown) for a member to look at rather than guessing. A mail server that refuses
    the message outright (an SMTP or network error before it took it) is the one case that releases the
    reservation, to be retried on the next run; a permanent refusal (5xx) stops the enrollment instead.

    Must run outside a transaction: (1) has to be durable before the email leaves.
    """
    now = now or timezone.now()
    with transaction.atomic():
        outcome, reservation = _reserve(enrollment_id=enrollment_id, now=now)
    if reservation is None:
        return outcome
    return _deliver(reservation_id=reservation.pk, now=now)


def _reserve(*, enrollment_id: int, now: datetime) -> tuple[str, SentStep | None]:
    # skip_locked: an enrollment locked by another run is being handled right now
    enrollment = Enrollment.objects.select_for_update(skip_locked=True).filter(pk=enrollment_id).first()
    if enrollment is None:
        return "busy", None
    if enrollment.status != EnrollmentStatus.ACTIVE:
        return "inactive", None
    if enrollment.next_send_at is None or enrollment.next_send_at > now:
        return "not_due", None
    sequence = Sequence.objects.get(pk=enrollment.sequence_id)
    lead = Lead.objects.select_related("owner").filter(pk=enrollment.lead_id).first()
    stop = _stop_reason(enrollment, sequence=sequence, lead=lead)
    if stop is not None:
        stop_enrollment(
            enrollment, reason=stop[0], details=stop[1], actor_id=None, now=now, sequence=sequence
        )
        return "stopped", None
    earlier = SentStep.objects.filter(enrollment=enrollment, position=enrollment.next_position).first()
    if earlier is not None:
        return _resolve_earlier(enrollment, earlier, sequence=sequence, now=now), None
    step = SequenceStep.objects.filter(sequence=sequence, position=enrollment.next_position).first()
    if step is None:  # the sequence was shortened past this enrollment's place
        complete_enrollment(enrollment, sequence=sequence, now=now)
        return "completed", None
    assert lead is not None  # _stop_reason stops enrollments of missing leads
    values = context_for(lead=lead, owner=lead.owner)
    reservation = SentStep.objects.create(
        enrollment=enrollment,
        step=step,
        position=step.position,
        message_id=outbound_message_id(),
        recipient=lead.email,
        # a subject is one line: a template's newlines would make an invalid header
        subject=" ".join(render(step.subject, values).split())[:300],
        body=render(step.body, values),
        status=SentStepStatus.PENDING,
        reserved_at=now,
    )
    return "reserved", reservation


def _resolve_earlier(enrollment: Enrollment, earlier: SentStep, *, sequence: Sequence, now: datetime) -> str:
    """This step was reserved before: by a run still sending it, or by one that died mid-send."""
    if earlier.status == SentStepStatus.PENDING and now - earlier.reserved_at < STALE_RESERVATION:
        return "in_flight"
    if earlier.status == SentStepStatus.SENT:  # sent and scheduled commit together; kept for safety
        _advance(enrollment, sequence=sequence, now=now)
        return "already_sent"
    if earlier.status == SentStepStatus.PENDING:
        earlier.status = SentStepStatus.UNKNOWN
        earlier.save(update_fields=["status"])
    stop_enrollment(
        enrollment,
        reason=StopReason.DELIVERY_UNKNOWN,
        actor_id=None,
        now=now,
        sequence=sequence,
        details={"position": earlier.position, "message_id": earlier.message_id},
    )
    return "delivery_unknown"


def _deliver(*, reservation_id: int, now: datetime) -> str:
    failure: Exception | None = None
    with transaction.atomic():
        # the same lock order as everywhere: enrollment first
        enrollment_id = SentStep.objects.values_list("enrollment_id", flat=True).get(pk=reservation_id)
        enrollment = Enrollment.objects.select_for_update().get(pk=enrollment_id)
        reservation = SentStep.objects.select_for_update().get(pk=reservation_id)
        if reservation.status != SentStepStatus.PENDING:
            return "inactive"
        if enrollment.status != EnrollmentStatus.ACTIVE or enrollment.next_position != reservation.position:
            reservation.delete()  # nothing went out: stopped between reserving and sending
            return "stopped"
        sequence = Sequence.objects.get(pk=enrollment.sequence_id)
        lead = Lead.objects.select_related("owner").filter(pk=enrollment.lead_id).first()
        stop = _stop_reason(enrollment, sequence=sequence, lead=lead)
        if stop is not None:
            reservation.delete()
            stop_enrollment(
                enrollment, reason=stop[0], details=stop[1], actor_id=None, now=now, sequence=sequence
            )
            return "stopped"
        assert lead is not None
        # From the rep who enrolled the lead (else its owner), Reply-To an address that brings the answer
        # back to this lead and thread, and the one-click unsubscribe of automated email
        connection = outbound_connection()  # the organization's SMTP server, else the platform's
        sender = sender_for(enrollment.enrolled_by or lead.owner, connection.server if connection else None)
        reply_to, headers = outbound_headers(record=lead, message_id=reservation.message_id)
        headers["Date"] = format_datetime(now)
        headers.update(unsubscribe_headers(reservation.recipient))
        message = EmailMessage(
            subject=reservation.subject,
            body=reservation.body + unsubscribe_footer(reservation.recipient),
            from_email=sender,
            to=[reservation.recipient],
            reply_to=[reply_to],
            headers=headers,
            connection=connection,
        )
        try:
            message.send()
        except smtplib.SMTPException as error:
            reservation.delete()  # the server did not take it: nothing went out
            if not _permanent(error):
                failure = error  # the next run tries again
            else:
                details = {"position": reservation.position, "error": str(error)[:500]}
                stop_enrollment(
                    enrollment,
                    reason=StopReason.DELIVERY_FAILED,
                    actor_id=None,
                    now=now,
                    sequence=sequence,
                    details=details,
                )
                return "delivery_failed"
        except OSError as error:  # no connection to the mail server
            reservation.delete()
            failure = error
        else:
            recorded = email_record(
                lead_id=lead.pk,
                actor=None,
                fields={
                    "from": sender,
                    "to": reservation.recipient,
                    "subject": reservation.subject,
                    "body": reservation.body,
                    "message_id": reservation.message_id,
                    "date": now,
                },
            )
            reservation.status = SentStepStatus.SENT
            reservation.sent_at = now
            reservation.activity = recorded.activity
            reservation.save(update_fields=["status", "sent_at", "activity"])
            _advance(enrollment, sequence=sequence, now=now)
            publish_on_commit(
                "sequence.step_sent",
                record_id=enrollment.pk,
                sequence_id=sequence.pk,
                lead_id=lead.pk,
                position=reservation.position,
                message_id=reservation.message_id,
            )
    if failure is not None:
        raise SequenceSendFailed(enrollment_id=enrollment_id, error=str(failure)[:500]) from failure
    return "sent"


def _permanent(error: smtplib.SMTPException) -> bool:
    """The server refused this recipient or this message for good (5xx); anything else (a greylisting 4xx,
    a disconnect, bad credentials on our side) is worth trying again later."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return True
    return isinstance(error, smtplib.SMTPDataError) and error.smtp_code >= 500


def _advance(enrollment: Enrollment, *, sequence: Sequence, now: datetime) -> None:
    """After a send: the next step is due its delay after now; past the last step the enrollment completes."""
    enrollment.last_sent_at = now
    enrollment.next_position += 1
    step = SequenceStep.objects.filter(sequence=sequence, position=enrollment.next_position).first()
    if step is None:
        complete_enrollment(enrollment, sequence=sequence, now=now)
        return
    enrollment.next_send_at = now + step.delay
    enrollment.save(update_fields=["last_sent_at", "next_position", "next_send_at"])


def _stop_reason(
    enrollment: Enrollment, *, sequence: Sequence, lead: Lead | None
) -> tuple[str, dict[str, Any]] | None:
    """Why this enrollment must not send, checked under its lock before every send (the events may have
    been missed: a crash between a commit and its subscribers)."""
    if sequence.deleted_at is not None:
        return StopReason.SEQUENCE_DELETED, {}
    if lead is None or lead.deleted_at is not None or lead.merged_into_id is not None:
        cause = "merged" if lead is not None and lead.merged_into_id is not None else "deleted"
        return StopReason.LEAD_UNAVAILABLE, {"cause": cause}
    if lead.stage in CLOSED_STAGES:
        return CLOSED_STAGES[Stage(lead.stage)], {"stage": lead.stage}
    if not lead.email:
        return StopReason.LEAD_UNAVAILABLE, {"cause": "no_email"}
    suppressed = suppression_of(lead.email)
    if suppressed is not None:
        return StopReason.DO_NOT_CONTACT, {"reason": suppressed.reason}
    replies = Activity.objects.filter(lead=lead, type=ActivityType.EMAIL, metadata__direction="inbound")
    threads = threads_of(enrollment)
    reply = (
        replies.filter(Q(thread_id__in=threads) | Q(occurred_at__gte=enrollment.enrolled_at))
        .order_by("occurred_at", "pk")
        .first()
    )
    if reply is not None:
        threaded = reply.thread_id in threads
        return StopReason.REPLIED, {
            "activity_id": reply.pk,
            "thread_id": reply.thread_id,
            "threaded": threaded,
        }
    return None
