"""Reads on leads with their rules: deleted leads are invisible unless asked for."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from shared_apps.core.errors import Forbidden
from shared_apps.users.models import User
from tenant_apps.leads.exceptions import LeadNotFound
from tenant_apps.leads.models import Lead, LeadQuerySet, status_q
from tenant_apps.records import visibility
from tenant_apps.records.selectors import COMMON_FILTERS, Filter, apply_filters


def leads_visible_to(actor: User | None) -> LeadQuerySet:
    """The leads a member may see (the policy: tenant_apps.records.visibility.leads_for)."""
    return visibility.leads_for(actor)


def lead_for_write(*, actor: User, lead_id: int, lock: bool = False) -> Lead:
    """A lead the member may change: visible (else 404, existence not revealed) and, for a rep, their own
    (else 403). With `lock`, the row is locked until the caller's transaction ends."""
    lead = lead_get(lead_id=lead_id, actor=actor, include_deleted=True, lock=lock)
    if not visibility.can_change(actor, lead):
        raise Forbidden("Reps change only the leads they own.", code="not_your_lead")
    return lead


def lead_list(*, actor: User | None, filters: dict[str, Any] | None = None) -> QuerySet[Lead]:
    """Live leads the actor may see, with their owner joined (a page costs one query). `filters` keys: stage
    (list), status (list of LeadStatus), owner ("me" | "none" | id), source, tag, value_min/max,
    created_after/before, last_contacted_*."""
    return apply_filters(leads_visible_to(actor).alive().select_related("owner"), filters, _FILTERS, actor)


_FILTERS: dict[str, Filter] = {
    **COMMON_FILTERS,
    "stage": lambda leads, value, actor: leads.filter(stage__in=value),
    "status": lambda leads, value, actor: leads.filter(status_q(value)),
    "source": lambda leads, value, actor: leads.filter(source__in=value),
    "value_min": lambda leads, value, actor: leads.filter(value__gte=Decimal(value)),
    "value_max": lambda leads, value, actor: leads.filter(value__lte=Decimal(value)),
    "last_contacted_after": lambda leads, value, actor: leads.filter(last_contacted_at__gte=value),
    "last_contacted_before": lambda leads, value, actor: leads.filter(last_contacted_at__lt=value),
}


def lead_get(
    *, lead_id: int, include_deleted: bool = False, actor: User | None = None, lock: bool = False
) -> Lead:
    leads = leads_visible_to(actor).select_related("owner")
    if lock:  # the lead's row only: its owner is on the nullable side of an outer join
        leads = leads.select_for_update(of=("self",))
    if not include_deleted:
        leads = leads.alive()
    lead = leads.filter(pk=lead_id).first()
    if lead is None:
        raise LeadNotFound(id=lead_id)
    return lead


def stage_history(*, lead: Lead, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each stage the lead entered, from its STAGE_CHANGE activities: entered_at, left_at, duration."""
    from django.utils import timezone

    from tenant_apps.activities.models import Activity, ActivityType

    changes = (
        Activity.objects.filter(lead=lead, type=ActivityType.STAGE_CHANGE)
        .order_by("occurred_at", "id")
        .values_list("metadata", "occurred_at")
    )
    first_stage = changes[0][0].get("from", lead.stage) if changes else lead.stage
    spans: list[dict[str, Any]] = [{"stage": first_stage, "entered_at": lead.created_at}]
    for metadata, at in changes:
        spans[-1]["left_at"] = at
        spans.append({"stage": metadata.get("to"), "entered_at": at})
    spans[-1]["left_at"] = None
    now = now or timezone.now()
    for span in spans:
        end = span["left_at"] or now
        span["duration_seconds"] = max(0.0, (end - span["entered_at"]).total_seconds())
        span["current"] = span["left_at"] is None
    return spans
