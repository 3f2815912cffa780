"""The console's organization list (searched, filtered, sorted, a page at a time), one organization's page,
the platform dashboard, and bulk actions with a confirmation step. Every page reads the public schema only
(organization rows, domains, the usage rows the hourly job collects), with a number of queries that does not
grow with the number of organizations; the filters and sort keys are the platform API's
(shared_apps.organizations.filters)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from shared_apps.console.forms import BulkForm, ProvisionForm, SupportForm
from shared_apps.console.views import operator_required, port_suffix
from shared_apps.core.errors import AppError, InvalidInput
from shared_apps.organizations import bulk, dashboard, filters, selectors, support
from shared_apps.organizations.exceptions import UsageNotCollected
from shared_apps.organizations.models import Organization, PlanDefinition

PAGE_SIZE = 50
# the list's columns: (sort key or "", heading)
COLUMNS = [
    ("name", "Organization"),
    ("", "Host"),
    ("plan", "Plan"),
    ("status", "Status"),
    ("database", "Database"),
    ("members", "Members"),
    ("records", "Records"),
    ("storage_bytes", "Storage"),
    ("api_requests_30d", "Requests (30 d)"),
    ("failed_jobs", "Failed jobs"),
    ("last_active_at", "Last active"),
    ("created_at", "Created"),
]


def _columns(request: HttpRequest, ordering: str) -> list[dict[str, Any]]:
    """Each column's heading with the link that sorts by it (again: the other way) and its aria-sort."""
    query = request.GET.copy()
    query.pop("page", None)
    columns = []
    for key, label in COLUMNS:
        column: dict[str, Any] = {"key": key, "label": label, "sort": None}
        if key:
            current = ordering.lstrip("-") == key
            descending = ordering.startswith("-")
            query["ordering"] = f"-{key}" if current and not descending else key
            column["url"] = "?" + query.urlencode()
            if current:
                column["sort"] = "descending" if descending else "ascending"
        columns.append(column)
    return columns


def list_page(request: HttpRequest, form: ProvisionForm, status: int = 200) -> HttpResponse:
    ordering = request.GET.get("ordering") or filters.DEFAULT_ORDERING
    try:
        filterset, organizations = filters.organization_directory(request.GET, ordering=ordering)
    except InvalidInput as error:
        messages.error(request, error.message)
        filterset, organizations = filters.organization_directory(QueryDict(), ordering=None)
        ordering, status = filters.DEFAULT_ORDERING, 400
    # each organization's plan by its name (the slug when no plan of that slug is defined)
    plan_name = PlanDefinition.objects.filter(slug=OuterRef("plan")).values("name")[:1]
    organizations = organizations.annotate(plan_name=Coalesce(Subquery(plan_name), F("plan")))
    page = Paginator(organizations, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "organizations": page.object_list,
        "page": page,
        "page_query": query.urlencode(),
        "filters": filterset.form,
        "columns": _columns(request, ordering),
        "bulk": BulkForm(auto_id="bulk_%s"),
        "form": form,
        "port": port_suffix(request),
        "base_domain": settings.BASE_DOMAIN,
    }
    return render(request, "console/organizations.html", context, status=status)


@operator_required
@require_GET
def organizations(request: HttpRequest) -> HttpResponse:
    return list_page(request, ProvisionForm(auto_id="new_%s"))


@operator_required
@require_GET
def platform_dashboard(request: HttpRequest) -> HttpResponse:
    summary = dashboard.platform_dashboard()
    most = max((row["count"] for row in summary["sign_ups_by_week"]), default=0) or 1
    weeks = [{**row, "percent": round(100 * row["count"] / most)} for row in summary["sign_ups_by_week"]]
    context = {
        "nav": "dashboard",
        "summary": summary,
        "weeks": weeks,
        "operations": bulk.bulk_operations_recent(5),
    }
    return render(request, "console/dashboard.html", context)


def _organization(slug: str) -> Organization:
    try:
        return selectors.organization_get(slug=slug)
    except AppError:
        raise Http404("No such organization.") from None


def _organization_page(
    request: HttpRequest, organization: Organization, support_form: SupportForm, **extra: Any
) -> HttpResponse:
    try:
        usage = selectors.organization_usage(slug=organization.slug)
    except UsageNotCollected:
        usage = None
    context = {
        "organization": organization,
        "usage": usage,
        "plan": PlanDefinition.objects.filter(slug=organization.plan).first(),
        "sessions": support.support_sessions_of(organization)[:10],
        "support_form": support_form,
        "port": port_suffix(request),
        **extra,
    }
    return render(request, "console/organization.html", context, status=400 if support_form.errors else 200)


@operator_required
@require_GET
def organization_page(request: HttpRequest, slug: str) -> HttpResponse:
    """One organization: members, records, storage, 30-day usage, last activity, placement and health, as
    the hourly job last collected them (the public schema only), and its support sessions."""
    return _organization_page(request, _organization(slug), SupportForm())


@operator_required
@require_POST
def support_open(request: HttpRequest, slug: str) -> HttpResponse:
    """Open a read-only support session with a reason; the token is shown on this answer only."""
    organization = _organization(slug)
    form = SupportForm(request.POST)
    if form.is_valid():
        try:
            opened = support.support_session_open(
                organization=organization,
                operator=request.user,  # type: ignore[arg-type]
                reason=form.cleaned_data["reason"],
                minutes=form.cleaned_data["minutes"],
                request=request,
            )
        except InvalidInput as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        except AppError as error:
            form.add_error(None, error.message)
        else:
            return _organization_page(request, organization, SupportForm(), opened=opened)
    return _organization_page(request, organization, form)


def _bulk_form(request: HttpRequest) -> BulkForm:
    form = BulkForm(request.POST, auto_id="bulk_%s")
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        raise InvalidInput(
            field, f"{form.fields[field].label if field in form.fields else field}: {errors[0]}"
        )
    return form


@operator_required
@require_POST
def bulk_review(request: HttpRequest) -> HttpResponse:
    """The confirmation step: what would be done to which organizations; nothing is done yet."""
    try:
        form = _bulk_form(request)
    except InvalidInput as error:
        messages.error(request, error.message)
        return redirect("console:organizations")
    data = form.cleaned_data
    chosen = list(
        Organization.objects.filter(slug__in=data["slugs"])
        .exclude(status__in=["deleted", "template"])
        .order_by("slug")
    )
    context = {
        "data": data,
        "chosen": chosen,
        "count": len(data["slugs"]),
        "action_label": form.action_label(),
    }
    return render(request, "console/bulk_confirm.html", context)


@operator_required
@require_POST
def bulk_apply(request: HttpRequest) -> HttpResponse:
    """Do a confirmed bulk action (the `confirm` count must match, as in the API): suspend, resume and
    change plan at once, migrate and move in jobs followed on the operation's page."""
    try:
        data = _bulk_form(request).cleaned_data
        confirm = int(request.POST.get("confirm") or -1)
        if data["action"] in bulk.JOB_ACTIONS:
            operation = bulk.bulk_operation_start(
                action=data["action"],
                slugs=data["slugs"],
                confirm=confirm,
                to=data.get("to") or None,
                operator=request.user,
                request=request,
            )
            messages.success(
                request, f"Queued: {operation.action} of {len(operation.results)} organizations."
            )
            return redirect("console:bulk-operation", operation_id=operation.pk)
        result = dashboard.organizations_bulk(
            action=data["action"],
            slugs=data["slugs"],
            confirm=confirm,
            plan=data.get("plan") or None,
            request=request,
        )
    except (InvalidInput, ValueError) as error:
        messages.error(request, getattr(error, "message", "Confirm the number of organizations."))
        return redirect("console:organizations")
    if result["done"]:
        messages.success(
            request, f"{len(result['done'])} organizations: {result['action'].replace('_', ' ')} done."
        )
    for slug, failure in result["failed"].items():
        messages.error(request, f"{slug}: {failure['message']}")
    return redirect("console:organizations")


@operator_required
@require_GET
def bulk_operation(request: HttpRequest, operation_id: int) -> HttpResponse:
    try:
        operation = bulk.bulk_operation_get(operation_id=operation_id)
    except AppError:
        raise Http404("No such operation.") from None
    rows = sorted(operation.results.items())
    return render(request, "console/bulk_operation.html", {"operation": operation, "rows": rows})
