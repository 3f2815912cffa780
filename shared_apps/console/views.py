"""The operators' console on the root domain: organizations listed, provisioned, suspended and reactivated
through the organizations' services, and a link to the admin. Operators are staff users of the public schema,
signed in with a session of that schema."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shared_apps.audit.pages import audit_log_page
from shared_apps.console.forms import (
    PlanChangeForm,
    PlanForm,
    PlanLimitsForm,
    ProvisionForm,
    StatusFilterForm,
    StatusForm,
)
from shared_apps.core.errors import AppError, InvalidInput
from shared_apps.organizations import plans, selectors, services
from shared_apps.organizations.exceptions import UsageNotCollected
from shared_apps.organizations.models import PlanDefinition
from shared_apps.users.signin import sign_in_page

View = Callable[..., HttpResponse]


def operator_required(view: View) -> View:
    """A signed-in operator, else the console's sign-in page; a signed-in non-operator gets a 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            return render(request, "console/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    return sign_in_page(
        request,
        template="console/sign_in.html",
        may_enter=lambda user: user.is_staff,
        refusal="Email or password is wrong, or this is not an operator account.",
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("console:sign-in")


def _port_suffix(request: HttpRequest) -> str:
    """The port the console is reached on, so links to organization hosts work in development too."""
    host = request.get_host()
    return ":" + host.rsplit(":", 1)[1] if ":" in host and not host.endswith("]") else ""


PAGE_SIZE = 50


def _page(request: HttpRequest, form: ProvisionForm, status: int = 200) -> HttpResponse:
    filters = StatusFilterForm(request.GET)
    chosen = filters.cleaned_data["status"] if filters.is_valid() else ""
    # a page at a time: an operator with thousands of organizations still gets a bounded page
    # each organization's plan by its name (the slug when no plan of that slug is defined)
    plan_name = PlanDefinition.objects.filter(slug=OuterRef("plan")).values("name")[:1]
    paginator = Paginator(
        selectors.organization_list(status=chosen or None)
        .annotate(plan_name=Coalesce(Subquery(plan_name), F("plan")))
        .order_by("slug", "id"),
        PAGE_SIZE,
    )
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "organizations": page.object_list,
        "page": page,
        "page_query": query.urlencode(),
        "filters": filters,
        "form": form,
        "port": _port_suffix(request),
        "base_domain": settings.BASE_DOMAIN,
    }
    return render(request, "console/organizations.html", context, status=status)


@operator_required
@require_GET
def organizations(request: HttpRequest) -> HttpResponse:
    return _page(request, ProvisionForm())


@operator_required
@require_POST
def provision(request: HttpRequest) -> HttpResponse:
    """Provision an organization: the service creates the row, the schema, the domain and the first admin at
    once (or nothing). Its validation errors show on the form's fields."""
    form = ProvisionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            organization = services.organization_provision(
                name=data["name"],
                slug=data["slug"],
                plan=data["plan"],
                admin_email=data["admin_email"],
                admin_name=data["admin_name"],
                admin_password=data["admin_password"],
                request=request,
            )
        except InvalidInput as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        except AppError as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                f"{organization.name} is ready at {organization.slug}.{settings.BASE_DOMAIN}.",
            )
            return redirect("console:organizations")
    return _page(request, form, status=400)


@operator_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    """The platform's audit log: operators' actions and sign-ins, filtered and paged as in the API."""
    return audit_log_page(
        request,
        template="console/audit_log.html",
        export_url=reverse("platform-audit-log-export"),
        context={"nav": "audit-log"},
    )


@operator_required
@require_POST
def set_status(request: HttpRequest, slug: str) -> HttpResponse:
    form = StatusForm(request.POST)
    try:
        if not form.is_valid():
            raise InvalidInput("status", "Status must be active or suspended.")
        organization = selectors.organization_get(slug=slug)
        organization = services.organization_set_status(
            organization=organization, status=form.cleaned_data["status"], request=request
        )
    except AppError as error:
        messages.error(request, error.message)
    else:
        verb = "reactivated" if organization.is_active else "suspended"
        messages.success(request, f"{organization.name} {verb}.")
    return redirect("console:organizations")


def _plans_page(request: HttpRequest, form: PlanForm, status: int = 200) -> HttpResponse:
    rows = [(plan, PlanLimitsForm(initial=vars(plan), prefix=plan.slug)) for plan in plans.plan_list()]
    context = {"nav": "plans", "rows": rows, "form": form}
    return render(request, "console/plans.html", context, status=status)


@operator_required
@require_http_methods(["GET", "POST"])
def plan_list(request: HttpRequest) -> HttpResponse:
    """Plans and their limits; POST defines a new one (the plans service validates and audits)."""
    if request.method == "GET":
        return _plans_page(request, PlanForm())
    form = PlanForm(request.POST)
    if form.is_valid():
        try:
            plan = plans.plan_create(request=request, **form.cleaned_data)
        except InvalidInput as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        except AppError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Plan {plan.name} defined.")
            return redirect("console:plans")
    return _plans_page(request, form, status=400)


@operator_required
@require_POST
def plan_update(request: HttpRequest, slug: str) -> HttpResponse:
    """Change a plan's name and limits: every organization on it works within them at once."""
    form = PlanLimitsForm(request.POST, prefix=slug)
    try:
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise InvalidInput(field, f"{field}: {errors[0]}")
        plan = plans.plan_update(slug=slug, request=request, **form.cleaned_data)
    except AppError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Plan {plan.name} saved.")
    return redirect("console:plans")


@operator_required
@require_POST
def organization_plan(request: HttpRequest) -> HttpResponse:
    """Move an organization (its slug) to another plan; its limits apply from its next request."""
    form = PlanChangeForm(request.POST)
    try:
        if not form.is_valid():
            raise InvalidInput("plan", "Choose an organization and a defined plan.")
        organization = services.organization_update(
            organization=selectors.organization_get(slug=form.cleaned_data["organization"]),
            plan=form.cleaned_data["plan"],
            request=request,
        )
    except AppError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{organization.name} is now on the {organization.plan} plan.")
    return redirect("console:plans")


@operator_required
@require_GET
def organization_usage(request: HttpRequest, slug: str) -> HttpResponse:
    """One organization's usage as the hourly job last collected it (the public schema only)."""
    try:
        organization = selectors.organization_get(slug=slug)
    except AppError:
        raise Http404("No such organization.") from None
    try:
        usage = selectors.organization_usage(slug=slug)
    except UsageNotCollected:
        usage = None
    context = {"organization": organization, "usage": usage}
    return render(request, "console/usage.html", context)
