"""Reads on opportunities: deleted and merged opportunities are invisible unless asked for."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from shared_apps.users.models import User
from tenant_apps.opportunities.exceptions import OpportunityNotFound
from tenant_apps.opportunities.models import CLOSED_STAGES, Opportunity
from tenant_apps.records import visibility
from tenant_apps.records.selectors import COMMON_FILTERS, Filter, apply_filters


def _open(opportunities: QuerySet[Any], value: Any, actor: User | None) -> QuerySet[Any]:
    if value:
        return opportunities.exclude(stage__in=CLOSED_STAGES)
    return opportunities.filter(stage__in=CLOSED_STAGES)


_FILTERS: dict[str, Filter] = {
    **COMMON_FILTERS,
    "stage": lambda opportunities, value, actor: opportunities.filter(stage__in=value),
    "account": lambda opportunities, value, actor: opportunities.filter(account_id=value),
    "closing_after": lambda opportunities, value, actor: opportunities.filter(expected_close_date__gte=value),
    "closing_before": lambda opportunities, value, actor: opportunities.filter(expected_close_date__lt=value),
    "amount_min": lambda opportunities, value, actor: opportunities.filter(amount__gte=value),
    "amount_max": lambda opportunities, value, actor: opportunities.filter(amount__lte=value),
    "open": _open,
}


def opportunities_visible_to(actor: User | None) -> Any:
    """The opportunities a member may see (the policy: tenant_apps.records.visibility.opportunities_for)."""
    return visibility.opportunities_for(actor)


def opportunity_list(*, actor: User | None, filters: dict[str, Any] | None = None) -> QuerySet[Opportunity]:
    """Live opportunities with owner, account and primary contact joined (a page costs one query).
    `filters` keys: stage (list), owner ("me" | "none" | id), account, closing_after/before (expected close
    date, from inclusive, to exclusive), amount_min/max, open (bool), tag, created_after/before."""
    opportunities = (
        opportunities_visible_to(actor).alive().select_related("owner", "account", "primary_contact")
    )
    return apply_filters(opportunities, filters, _FILTERS, actor)


def opportunity_get(
    *, opportunity_id: int, include_deleted: bool = False, include_merged: bool = False
) -> Opportunity:
    """One opportunity; a merged one only with `include_merged` (its detail URL answers with the survivor)."""
    opportunities = Opportunity.objects.select_related("owner", "account", "primary_contact")
    if not include_deleted:
        opportunities = opportunities.filter(deleted_at__isnull=True)
    if not include_merged:
        opportunities = opportunities.filter(merged_into__isnull=True)
    opportunity = opportunities.filter(pk=opportunity_id).first()
    if opportunity is None:
        raise OpportunityNotFound(id=opportunity_id)
    return opportunity
