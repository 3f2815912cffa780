"""Reads on sequences and enrollments: deleted sequences are invisible."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from shared_apps.users.models import User
from tenant_apps.records import visibility
from tenant_apps.sequences.exceptions import EnrollmentNotFound, SequenceNotFound
from tenant_apps.sequences.models import Enrollment, EnrollmentStatus, SentStep, Sequence, SequenceStep


def enrollments_for(actor: User | None) -> QuerySet[Enrollment]:
    """The enrolments `actor` may see: those on a lead they may see (the policy, registered with
    tenant_apps.records.visibility as "enrollment")."""
    return Enrollment.objects.filter(visibility.hanging_visible(actor, anchors=("lead",)))


def sequence_list() -> QuerySet[Sequence]:
    """Live sequences with their steps in order and the count of running enrollments (a page: 2 queries)."""
    return (
        Sequence.objects.alive()
        .select_related("created_by")
        .prefetch_related(Prefetch("steps", queryset=SequenceStep.objects.order_by("position")))
        # a correlated count per row of the page (on the one-active-enrollment index), not a join grouped
        # over every sequence's enrollments, which also forced a sort whatever the ordering asked
        .annotate(
            active_enrollments=Coalesce(
                Subquery(
                    Enrollment.objects.filter(sequence=OuterRef("pk"), status=EnrollmentStatus.ACTIVE)
                    .order_by()
                    .values("sequence")
                    .annotate(count=Count("*"))
                    .values("count")
                ),
                0,
            )
        )
    )


def sequence_get(*, sequence_id: int) -> Sequence:
    sequence = sequence_list().filter(pk=sequence_id).first()
    if sequence is None:
        raise SequenceNotFound(id=sequence_id)
    return sequence


def enrollment_list(
    *, sequence_id: int, filters: dict[str, Any] | None = None, actor: User | None = None
) -> QuerySet[Enrollment]:
    """A live sequence's enrollments of leads `actor` may see, with their lead, enroller and sent steps (a
    page: 2 queries). `filters` keys: status (list), lead (id)."""
    if not Sequence.objects.alive().filter(pk=sequence_id).exists():
        raise SequenceNotFound(id=sequence_id)
    enrollments = (
        enrollments_for(actor)
        .filter(sequence_id=sequence_id)
        .select_related("lead", "enrolled_by")
        .prefetch_related(Prefetch("sent_steps", queryset=SentStep.objects.order_by("position")))
    )
    filters = filters or {}
    if filters.get("status"):
        enrollments = enrollments.filter(status__in=filters["status"])
    if filters.get("lead"):
        enrollments = enrollments.filter(lead_id=filters["lead"])
    return enrollments


def enrollment_get(*, enrollment_id: int, actor: User | None = None) -> Enrollment:
    """One enrollment of a live sequence, on a lead `actor` may see (else EnrollmentNotFound)."""
    enrollment = (
        enrollments_for(actor)
        .filter(pk=enrollment_id, sequence__deleted_at__isnull=True)
        .select_related("lead", "enrolled_by")
        .prefetch_related(Prefetch("sent_steps", queryset=SentStep.objects.order_by("position")))
        .first()
    )
    if enrollment is None:
        raise EnrollmentNotFound(id=enrollment_id)
    return enrollment


def enrollments_due(*, now: Any) -> QuerySet[Enrollment]:
    """Running enrollments whose next step is due (served by enrollment_due_idx)."""
    return Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE, next_send_at__lte=now)
