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
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shared_apps.audit.pages import audit_log_page
from shared_apps.console.forms import (
    PlanChangeForm,
    PlanForm,
    PlanLimitsForm,
    ProvisionForm,
    StatusForm,
)
from shared_apps.core.errors import AppError, InvalidInput
from shared_apps.organizations import plans, selectors, services
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


def port_suffix(request: HttpRequest) -> str:
    """The port the console is reached on, so links to organization hosts work in development too."""
    host = request.get_host()
    return ":" + host.rsplit(":", 1)[1] if ":" in host and not host.endswith("]") else ""


@operator_required
@require_POST
def provision(request: HttpRequest) -> HttpResponse:
    """Provision an organization: the service creates the row, the schema, the domain and the first admin at
    once (or nothing). Its validation errors show on the form's fields."""
    form = ProvisionForm(request.POST, auto_id="new_%s")
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
    from shared_apps.console.directory import list_page  # it imports this module's decorator

    return list_page(request, form, status=400)


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
