"""The board: a column of cards per stage, one card, the columns' counts and totals."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.leads import selectors as lead_selectors
from tenant_apps.leads.exceptions import LeadNotFound
from tenant_apps.leads.models import OPEN_STAGES, TRANSITIONS, LeadStatus
from tenant_apps.opportunities.stage_labels import lead_stage_labels
from tenant_apps.web import selectors
from tenant_apps.web.views.base import currency, member, member_required


@member_required
@require_GET
def pipeline(request: HttpRequest) -> HttpResponse:
    columns = selectors.board(actor=member(request), default_currency=currency(request))
    context = {
        "columns": columns,
        "transitions": {stage: list(targets) for stage, targets in TRANSITIONS.items()},
        "stage_labels": lead_stage_labels(),
        "can_write": has_role(request.user, Role.REP),
        "nav": "pipeline",
        "wide": True,
    }
    return render(request, "web/pipeline.html", context)


@member_required
@require_GET
def pipeline_card(request: HttpRequest, lead_id: int) -> HttpResponse:
    """One card, as the board shows it (live updates fetch it); 404 once the member cannot see it or it has
    left the board (converted while open: the board drops the card)."""
    try:
        lead = lead_selectors.lead_get(lead_id=lead_id, actor=member(request))
    except LeadNotFound:
        return HttpResponse(status=404)
    if lead.status == LeadStatus.CONVERTED and lead.stage in OPEN_STAGES:
        return HttpResponse(status=404)
    context = {
        "lead": lead,
        "can_write": has_role(request.user, Role.REP),
        "stage_labels": lead_stage_labels(),
    }
    return render(request, "web/_card.html", context)


@member_required
@require_GET
def pipeline_summary(request: HttpRequest) -> JsonResponse:
    summary = selectors.stage_summary(actor=member(request), default_currency=currency(request))
    return JsonResponse(
        {stage: {"count": column.count, "total": column.total_text} for stage, column in summary.items()}
    )
