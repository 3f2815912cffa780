"""The deals board (a Kanban per pipeline: a column per stage as configured, cards the member may see) and
the moves made on it, through the opportunity service (a lost stage asks for a lost reason)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.opportunities import pipelines
from tenant_apps.opportunities import selectors as opportunity_selectors
from tenant_apps.opportunities import services as opportunity_services
from tenant_apps.opportunities.models import Opportunity, Pipeline, PipelineStage
from tenant_apps.web import selectors
from tenant_apps.web.views.base import Done, action, member, member_required, not_found, parse
from tenant_apps.web.views.records import opportunity_for_change

CARDS_PER_COLUMN = 50


@dataclass
class DealColumn:
    stage: PipelineStage
    cards: list[Opportunity] = field(default_factory=list)
    count: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)

    @property
    def total_text(self) -> str:
        """Amounts per currency, never summed across currencies."""
        parts = [selectors.money(amount, code) for code, amount in sorted(self.totals.items())]
        return " + ".join(parts) or "\u2013"

    @property
    def hidden(self) -> int:
        return max(0, self.count - len(self.cards))


def _pipeline(request: HttpRequest) -> Pipeline | None:
    value = request.GET.get("pipeline", "")
    if not value:
        return pipelines.default_pipeline()
    if not value.isdigit() or len(value) > 18:
        return None
    return Pipeline.objects.filter(pk=int(value)).first()


def board_columns(*, actor: Any, pipeline: Pipeline) -> list[DealColumn]:
    """A column per stage of the pipeline, in order, with the newest visible live deals of each, and every
    stage's count and per-currency total (two queries plus one per column)."""
    visible = opportunity_selectors.opportunity_list(actor=actor, filters={"pipeline": pipeline.pk})
    columns = {stage.pk: DealColumn(stage=stage) for stage in pipeline.stages.order_by("position", "id")}
    rows = (
        visible.select_related(None)
        .order_by()
        .values("pipeline_stage_id", "currency")
        .annotate(n=Count("id"), total=Sum("amount"))
    )
    for row in rows:
        column = columns.get(row["pipeline_stage_id"])
        if column is not None:
            column.count += row["n"]
            column.totals[row["currency"]] = row["total"] or Decimal(0)
    for column in columns.values():
        if column.count:
            column.cards = list(
                visible.filter(pipeline_stage=column.stage).order_by("-updated_at", "-id")[:CARDS_PER_COLUMN]
            )
    return list(columns.values())


@member_required
@require_GET
def deals_board(request: HttpRequest) -> HttpResponse:
    pipeline = _pipeline(request)
    if pipeline is None:
        return not_found(request, "No such pipeline.")
    now = timezone.now()
    columns = board_columns(actor=member(request), pipeline=pipeline)
    rotting = {
        deal.pk
        for column in columns
        if column.stage.rotting_days and not column.stage.is_closed
        for deal in column.cards
        if (now - deal.updated_at).days >= column.stage.rotting_days
    }
    context = {
        "pipeline": pipeline,
        "pipelines": list(pipelines.pipeline_list()),
        "columns": columns,
        "rotting": rotting,
        "lost_reasons": list(pipelines.lost_reason_list(include_inactive=False)),
        "can_write": has_role(request.user, Role.REP),
        "nav": "deals",
        "wide": True,
    }
    return render(request, "web/deals_board.html", context)


class DealMoveForm(forms.Form):
    stage = forms.IntegerField(min_value=1, max_value=2**63 - 1)
    lost_reason = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    reason = forms.CharField(max_length=1000, required=False)


@action
def deal_move(request: HttpRequest, opportunity_id: int) -> Done:
    """Move a deal the member may change to another stage of its pipeline (a lost one needs a reason)."""
    data = parse(DealMoveForm, request.POST)
    actor = member(request)
    opportunity_for_change(actor, opportunity_id)
    deal = opportunity_services.opportunity_transition(
        opportunity_id=opportunity_id,
        stage=data["stage"],
        actor=actor,
        reason=data["reason"] or "",
        lost_reason=data["lost_reason"],
    )
    stage = PipelineStage.objects.get(pk=deal.pipeline_stage_id)
    location = reverse("web:deals-board") + f"?pipeline={deal.pipeline_id}"
    return Done(f"{deal.name} moved to {stage.name}.", location)
