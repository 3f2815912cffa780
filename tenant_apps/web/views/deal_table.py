"""The deal table (`/opportunities/`): the columns each member chooses (the deals' custom fields included),
sorting by a column, filters (pipeline, stage, owner, tag, amount range, close dates) and pages. Rows are
read through the opportunity selector, so the visibility policy decides what a member sees."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet
from django.db.models.expressions import OrderBy
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from shared_apps.core.errors import AppError
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.opportunities import selectors as opportunity_selectors
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.opportunities.pipelines import lost_reason_list, pipeline_list
from tenant_apps.search.selectors import search
from tenant_apps.web import custom_values, selectors
from tenant_apps.web.forms import DEAL_SORTS, DealFilterForm
from tenant_apps.web.views.base import is_fetch, member, member_required, valid
from tenant_apps.web.views.lead_bulk import columns_save
from tenant_apps.web.views.tables import kept, numbered_page, sort_choices, sort_head

COLUMN_LABELS = {
    "name": "Name",
    "account": "Account",
    "pipeline": "Pipeline",
    "stage": "Stage",
    "amount": "Amount",
    "probability": "Probability",
    "owner": "Owner",
    "primary_contact": "Primary contact",
    "expected_close_date": "Closes",
    "tags": "Tags",
    "created_at": "Created",
}
# what each sortable column orders by (a stage by its pipeline's order, then its place in the pipeline)
SORT_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "account": ("account__name",),
    "pipeline": ("pipeline__position", "pipeline_id"),
    "stage": ("pipeline__position", "pipeline_id", "pipeline_stage__position"),
    "amount": ("amount",),
    "probability": ("probability",),
    "owner": ("owner__full_name",),
    "expected_close_date": ("expected_close_date",),
    "created_at": ("created_at",),
}
FILTERED = (
    "q",
    "pipeline",
    "stage",
    "owner",
    "tag",
    "amount_min",
    "amount_max",
    "closing_after",
    "closing_before",
)


def column_labels() -> dict[str, str]:
    """Every column's heading: the deal's own, and its custom fields' labels."""
    return {**COLUMN_LABELS, **dict(custom_values.column_choices("opportunity"))}


def _ordering(sort: str) -> list[OrderBy]:
    descending, key = sort.startswith("-"), sort.lstrip("-")
    fields = [F(name) for name in SORT_FIELDS[key]] + [F("id")]
    return [field.desc(nulls_last=True) if descending else field.asc(nulls_last=True) for field in fields]


def _rows(request: HttpRequest, deals: QuerySet[Opportunity], data: dict[str, Any]) -> tuple[list[Any], str]:
    """A page of deals and the next page's URL: search results by rank when there is a search text, in the
    chosen column's order by page number when sorted, else newest first by cursor."""
    query = request.GET.copy()
    page = data.get("page") or 1
    if data.get("q"):
        found = search(
            actor=member(request),
            q=data["q"],
            types=["opportunity"],
            filters={},
            page=page,
            page_size=selectors.PAGE_SIZE,
        )
        ids = [hit["id"] for hit in found["results"]]
        by_id = deals.in_bulk(ids)
        query["page"] = str(page + 1)
        return [by_id[pk] for pk in ids if pk in by_id], f"?{query.urlencode()}" if found["has_more"] else ""
    if data.get("sort"):
        return numbered_page(request, deals, _ordering(data["sort"]), page)
    result = selectors.keyset_page(deals, cursor=data.get("cursor"))
    if result.next_cursor is None:
        return result.rows, ""
    query["cursor"] = result.next_cursor
    return result.rows, f"?{query.urlencode()}"


@member_required
@require_GET
def deal_list(request: HttpRequest) -> HttpResponse:
    """The deal table. A filter value that is not valid is a 400 naming the field (JSON to a script, the
    page with the problem shown to a browser)."""
    actor = member(request)
    form = DealFilterForm(request.GET)
    problem, status, next_url = "", 200, ""
    rows: list[Opportunity] = []
    data: dict[str, Any] = {}
    try:
        checked = valid(DealFilterForm, request.GET)
        data = checked.cleaned_data
        deals = opportunity_selectors.opportunity_list(actor=actor, filters=checked.filters())
        rows, next_url = _rows(request, deals, data)
    except AppError as error:
        if is_fetch(request):
            return JsonResponse(error.as_body(), status=error.status_code)
        problem, status = error.message, error.status_code
    columns = selectors.list_columns(actor=actor, list_name="deals")
    labels = column_labels()
    sort = data.get("sort") or ""
    pipelines = list(pipeline_list())
    context = {
        "form": form,
        "rows": rows,
        "columns": [(key, labels[key]) for key in columns],
        "all_columns": [(key, labels[key], key in columns) for key in selectors.offered_columns("deals")],
        "head": sort_head(request, ["name", *columns], labels, DEAL_SORTS, sort, sortable=not data.get("q")),
        "sort": sort,
        "sort_choices": sort_choices(["name", *columns], labels, DEAL_SORTS),
        "keep": kept(request, form.fields),
        "pipelines": pipelines,
        "stages": [(pipeline, list(pipeline.stages.all())) for pipeline in pipelines],
        "lost_reasons": list(lost_reason_list(include_inactive=False)),
        "filtered": any(data.get(key) for key in FILTERED),
        "next_url": next_url,
        "problem": problem,
        "members": list(selectors.members()),
        "can_write": has_role(actor, Role.REP),
        "nav": "opportunities",
    }
    return render(request, "web/deal_list.html", context, status=status)


@member_required
@require_POST
def deal_columns(request: HttpRequest) -> HttpResponse:
    return columns_save(request, "deals", reverse("web:deals"))
