"""The dashboard: pipeline value, conversion and weekly trend charts, overdue tasks."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tenant_apps.leads.models import Stage
from tenant_apps.web import charts, selectors
from tenant_apps.web.views.base import currency, member, member_required


@member_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    actor, default = member(request), currency(request)
    summary = selectors.stage_summary(actor=actor, default_currency=default)
    pipeline = charts.bar_chart(
        "Pipeline value by stage",
        [
            (
                column.label,
                column.totals.get(default, 0),
                _bar_text(column, default),
                column.stage,
            )
            for column in summary.values()
        ],
    )
    conversion = selectors.conversion(actor=actor)
    funnel = charts.bar_chart(
        f"Conversion by step, last {conversion.days} days",
        [
            (
                f"{Stage(step.from_stage).label} → {Stage(step.to_stage).label}",
                step.rate or 0,
                f"{round((step.rate or 0) * 100)}% of {step.exits}",
                "step",
            )
            for step in conversion.steps
        ],
        label_width=190,
        value_room=110,
    )
    weeks = selectors.weekly_trend(actor=actor)
    trend = charts.line_chart(
        "Leads created and won per week",
        [week.start.strftime("%b %d") for week in weeks],
        [
            ("Created", "created", [week.created for week in weeks]),
            ("Won", "won", [week.won for week in weeks]),
        ],
    )
    open_columns = [column for stage, column in summary.items() if stage not in (Stage.WON, Stage.LOST)]
    context = {
        "pipeline": pipeline,
        "funnel": funnel,
        "trend": trend,
        "conversion": conversion,
        "open_count": sum(column.count for column in open_columns),
        "open_total": selectors.totals_text(_add_totals(open_columns), default),
        "overdue": selectors.overdue_tasks(actor=actor),
        "nav": "dashboard",
    }
    return render(request, "web/dashboard.html", context)


def _bar_text(column: selectors.Column, default: str) -> str:
    """The bar measures the organization's currency; amounts in others are only mentioned (never added)."""
    others = sum(1 for code, amount in column.totals.items() if code != default and amount)
    text = f"{selectors.money(column.totals.get(default, 0), default)} · {column.count}"
    return f"{text} (+{others} other currenc{'y' if others == 1 else 'ies'})" if others else text


def _add_totals(columns: list[selectors.Column]) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    for column in columns:
        for code, amount in column.totals.items():
            totals[code] = totals.get(code, 0) + amount
    return totals
