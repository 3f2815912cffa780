"""The dashboard: pipeline value (in the base currency, with its per-currency breakdown), conversion and
weekly trend charts, overdue tasks."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tenant_apps.currency.selectors import base_currency
from tenant_apps.leads.models import Stage
from tenant_apps.web import charts, selectors
from tenant_apps.web import dashboard_figures as snapshots
from tenant_apps.web.onboarding import checklist
from tenant_apps.web.views.base import member, member_required


@member_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    actor, base = member(request), base_currency()
    # a large organization's figures come from the analytics layer (snapshots, rollups), a small one's live
    large = snapshots.use_analytics()
    if large:
        summary, snapshot_breakdown = snapshots.stage_summary(actor=actor, base=base)
    else:
        summary = selectors.stage_summary(actor=actor, default_currency=base)
    pipeline = charts.bar_chart(
        f"Pipeline value by stage ({base})",
        [
            (column.label, column.base_total, _bar_text(column, base), column.stage)
            for column in summary.values()
        ],
    )
    conversion = snapshots.conversion() if large else selectors.conversion(actor=actor)
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
    weeks = (snapshots if large else selectors).weekly_trend(actor=actor)
    trend = charts.line_chart(
        "Leads created and won per week",
        [week.start.strftime("%b %d") for week in weeks],
        [
            ("Created", "created", [week.created for week in weeks]),
            ("Won", "won", [week.won for week in weeks]),
        ],
    )
    open_columns = [column for stage, column in summary.items() if stage not in (Stage.WON, Stage.LOST)]
    breakdown = snapshot_breakdown if large else _breakdown(open_columns, base)
    context = {
        "pipeline": pipeline,
        "funnel": funnel,
        "trend": trend,
        "conversion": conversion,
        "base_currency": base,
        "open_count": sum(column.count for column in open_columns),
        "open_total": selectors.money(sum(column.base_total for column in open_columns), base),
        "open_unconverted": sum(figures.unconverted_count for _code, figures in breakdown),
        "breakdown": breakdown,
        "overdue": selectors.overdue_tasks(actor=actor),
        "checklist": checklist(),
        "from_snapshots": large,
        "nav": "dashboard",
    }
    return render(request, "web/dashboard.html", context)


def _bar_text(column: selectors.Column, base: str) -> str:
    """The bar measures the base currency; leads without a rate for their day are only counted."""
    text = f"{selectors.money(column.base_total, base)} · {column.count}"
    return f"{text} ({column.unconverted} unconverted)" if column.unconverted else text


def _breakdown(columns: list[selectors.Column], base: str) -> list[tuple[str, selectors.Figures]]:
    """The open pipeline per currency, the base currency first."""
    found: dict[str, selectors.Figures] = {}
    for column in columns:
        for code, figures in column.currencies.items():
            found.setdefault(code, selectors.Figures()).add(figures)
    return sorted(found.items(), key=lambda item: (item[0] != base, item[0]))
