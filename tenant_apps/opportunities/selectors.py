"""Reads on opportunities: deleted and merged opportunities are invisible unless asked for."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from shared_apps.core.errors import InvalidInput
from shared_apps.users.models import User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.opportunities.exceptions import OpportunityNotFound
from tenant_apps.opportunities.models import Opportunity, PipelineStage
from tenant_apps.records import visibility
from tenant_apps.records.selectors import COMMON_FILTERS, Filter, apply_filters


def _open(opportunities: QuerySet[Any], value: Any, actor: User | None) -> QuerySet[Any]:
    # closed = in a won or lost stage of its pipeline, which always sets closed_at
    return opportunities.filter(closed_at__isnull=bool(value))


def _stage_ids(value: list[int | str], pipeline_id: int | None) -> list[int]:
    """Stage ids, with keys read as the stages of the pipeline filtered on or, without one, of the default
    pipeline (so the old enum values keep meaning what they meant)."""
    ids = [item for item in value if isinstance(item, int)]
    keys = [item for item in value if isinstance(item, str)]
    if keys:
        pipeline = Q(pipeline_id=pipeline_id) if pipeline_id else Q(pipeline__is_default=True)
        found = dict(PipelineStage.objects.filter(pipeline, key__in=keys).values_list("key", "id"))
        unknown = sorted(set(keys) - set(found))
        if unknown:
            raise InvalidInput("stage", f"No stage has the key {', '.join(unknown)} in this pipeline.")
        ids += found.values()
    return ids


RELATED = ("owner", "account", "primary_contact", "pipeline", "pipeline_stage", "lost_reason")

_FILTERS: dict[str, Filter] = {
    **COMMON_FILTERS,
    "stage": lambda opportunities, value, actor: opportunities.filter(pipeline_stage_id__in=value),
    "pipeline": lambda opportunities, value, actor: opportunities.filter(pipeline_id=value),
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
    """Live opportunities with owner, account, primary contact, pipeline, stage and lost reason joined (a
    page costs one query). `filters` keys: pipeline (id), stage (ids or keys), owner ("me" | "none" | id),
    account, closing_after/before (expected close date, from inclusive, to exclusive), amount_min/max,
    open (bool), tag, created_after/before."""
    opportunities = opportunities_visible_to(actor).alive().select_related(*RELATED)
    if filters and filters.get("stage"):
        filters = {**filters, "stage": _stage_ids(filters["stage"], filters.get("pipeline")) or [0]}
    return apply_filters(opportunities, filters, _FILTERS, actor)


def opportunity_get(
    *, opportunity_id: int, include_deleted: bool = False, include_merged: bool = False
) -> Opportunity:
    """One opportunity; a merged one only with `include_merged` (its detail URL answers with the survivor)."""
    opportunities = Opportunity.objects.select_related(*RELATED)
    if not include_deleted:
        opportunities = opportunities.filter(deleted_at__isnull=True)
    if not include_merged:
        opportunities = opportunities.filter(merged_into__isnull=True)
    opportunity = opportunities.filter(pk=opportunity_id).first()
    if opportunity is None:
        raise OpportunityNotFound(id=opportunity_id)
    return opportunity


def opportunity_stage_history(*, opportunity: Opportunity) -> list[dict[str, Any]]:
    """The deal's stage changes, oldest first, from its timeline. Each names the stages by id with their
    current names (a renamed stage shows its new name; `name_then` keeps what it was called at the time;
    a deleted stage keeps the stored name). Entries from before pipelines carry only the old enum keys:
    those are the default pipeline's stage keys, which never change."""
    entries = list(
        Activity.objects.filter(opportunity_id=opportunity.pk, type=ActivityType.STAGE_CHANGE)
        .order_by("occurred_at", "id")
        .values("id", "occurred_at", "actor_id", "metadata")
    )
    stages = {stage.pk: stage for stage in PipelineStage.objects.filter(pipeline_id=opportunity.pipeline_id)}
    by_key = {stage.key: stage for stage in stages.values()}
    referenced = (
        {
            entry["metadata"].get(f"{side}_stage_id")
            for entry in entries
            for side in ("from", "to")
            if isinstance(entry.get("metadata"), dict)
        }
        - set(stages)
        - {None}
    )
    stages.update({stage.pk: stage for stage in PipelineStage.objects.filter(pk__in=referenced)})

    def side(metadata: dict[str, Any], prefix: str) -> dict[str, Any]:
        stage_id = metadata.get(f"{prefix}_stage_id")
        stage = stages.get(stage_id) if stage_id is not None else by_key.get(metadata.get(prefix) or "")
        then = metadata.get(f"{prefix}_name") or metadata.get(prefix) or ""
        return {
            "id": stage.pk if stage else stage_id,
            "key": stage.key if stage else metadata.get(prefix),
            "name": stage.name if stage else then,
            "name_then": then,
        }

    history = []
    for entry in entries:
        metadata = entry["metadata"] if isinstance(entry["metadata"], dict) else {}
        history.append(
            {
                "activity_id": entry["id"],
                "at": entry["occurred_at"],
                "actor_id": entry["actor_id"],
                "from": side(metadata, "from"),
                "to": side(metadata, "to"),
                "reason": metadata.get("reason", ""),
                "lost_reason": metadata.get("lost_reason") or None,
            }
        )
    return history
