"""The board: a column of cards per stage (owner and tag filters, a column's further cards on demand), one
card, the columns' counts and totals."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from shared_apps.core.errors import InvalidInput
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.leads import selectors as lead_selectors
from tenant_apps.leads.exceptions import LeadNotFound
from tenant_apps.leads.models import OPEN_STAGES, TRANSITIONS, LeadStatus
from tenant_apps.opportunities.stage_labels import lead_stage_labels
from tenant_apps.web import dashboard_figures, selectors
from tenant_apps.web.forms import BoardFilterForm
from tenant_apps.web.templatetags.web_tags import stage_labels_read_once
from tenant_apps.web.views.base import currency, form_problem, member, member_required


def _invalid(form: BoardFilterForm) -> JsonResponse:
    field, errors = next(iter(form.errors.items()))
    return JsonResponse(
        {"code": "invalid", "message": form_problem(form), "errors": {field: list(errors)}}, status=400
    )


@member_required
@require_GET
def pipeline(request: HttpRequest) -> HttpResponse:
    actor = member(request)
    form = BoardFilterForm(request.GET)
    valid = form.is_valid()
    filters = form.filters() if valid else {}
    # a large organization's counts and totals come from today's pipeline snapshot, a small one's live
    summary = dashboard_figures.board_summary(actor=actor, base=currency(request), filters=filters)
    columns = selectors.board(
        actor=actor, default_currency=currency(request), filters=filters, summary=summary
    )
    with stage_labels_read_once() as labels:
        context = _board_context(request, form, columns, filters, labels)
        return render(request, "web/pipeline.html", context, status=200 if valid else 400)


def _board_context(
    request: HttpRequest,
    form: BoardFilterForm,
    columns: list[selectors.Column],
    filters: dict[str, Any],
    labels: dict[str, str],
) -> dict[str, Any]:
    actor = member(request)
    return {
        "columns": columns,
        "form": form,
        "problem": form_problem(form),
        "members": list(selectors.members()),
        "transitions": {stage: list(targets) for stage, targets in TRANSITIONS.items()},
        "stage_labels": labels,
        "can_write": has_role(actor, Role.REP),
        "stale_days": selectors.STALE_DAYS,
        "empty": not any(column.count for column in columns),
        "filtered": any(filters.values()),
        "nav": "pipeline",
        "wide": True,
    }


@member_required
@require_GET
def pipeline_column(request: HttpRequest, stage: str) -> HttpResponse:
    """A column's next cards (its "load more"), with the board's filters: the cards as HTML and the cursor
    of the page after (blank at the end)."""
    form = BoardFilterForm(request.GET)
    if not form.is_valid():
        return _invalid(form)
    try:
        page = selectors.column_page(
            actor=member(request), stage=stage, filters=form.filters(), cursor=request.GET.get("cursor")
        )
    except InvalidInput as error:
        return JsonResponse(
            {"code": error.code, "message": error.message, "errors": {"cursor": [error.message]}}, status=400
        )
    context: dict[str, Any] = {"can_write": has_role(request.user, Role.REP)}
    with stage_labels_read_once():
        html = "".join(
            render_to_string("web/_card.html", {**context, "lead": lead}, request=request)
            for lead in page.rows
        )
    return JsonResponse({"html": html, "next_cursor": page.next_cursor or ""})


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
    form = BoardFilterForm(request.GET)
    if not form.is_valid():
        return _invalid(form)
    actor, filters = member(request), form.filters()
    summary = dashboard_figures.board_summary(actor=actor, base=currency(request), filters=filters)
    if summary is None:
        summary = selectors.stage_summary(actor=actor, default_currency=currency(request), filters=filters)
    return JsonResponse(
        {stage: {"count": column.count, "total": column.total_text} for stage, column in summary.items()}
    )
