"""The settings index (/settings/), and the admins' API keys and webhooks pages. A new key's or endpoint's
secret (and a rotated one) is shown once, in the answer to the post that made it, never stored for a later
page. The same services as the API: shared_apps.users.apikeys and tenant_apps.webhooks.services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shared_apps.core.errors import AppError, InvalidInput, NotFound
from shared_apps.http.permissions import has_role
from shared_apps.users import apikeys
from shared_apps.users.models import ApiKey, ApiKeyScope, Role, User
from tenant_apps.web.views.base import member, member_required
from tenant_apps.webhooks import selectors as webhook_selectors
from tenant_apps.webhooks import services as webhook_services
from tenant_apps.webhooks import signing
from tenant_apps.webhooks.models import EVENT_TYPES, WILDCARD

DELIVERIES_SHOWN = 50


@dataclass(frozen=True)
class Link:
    url_name: str
    label: str
    about: str
    role: str  # the least role that sees the link


LINKS: tuple[tuple[str, tuple[Link, ...]], ...] = (
    (
        "You",
        (
            Link("web:security", "Security", "Your sessions, API tokens, password and email.", Role.VIEWER),
            Link("web:two-factor", "Two-factor sign-in", "An authenticator app for signing in.", Role.VIEWER),
            Link("web:time-zone", "Time zone", "The zone your dates and times are shown in.", Role.VIEWER),
            Link("web:password", "Password", "Change your password.", Role.VIEWER),
        ),
    ),
    (
        "Organization",
        (
            Link("web:members", "Members and invitations", "Invite people, end their sessions.", Role.ADMIN),
            Link("web:api-keys", "API keys", "Keys for integrations: create and revoke.", Role.ADMIN),
            Link("web:webhooks", "Webhooks", "Endpoints, secrets and recent deliveries.", Role.ADMIN),
            Link("web:email-settings", "Email", "The inbound address and sending settings.", Role.VIEWER),
            Link("web:currency-settings", "Currencies", "The base currency and exchange rates.", Role.ADMIN),
            Link(
                "web:custom-field-settings",
                "Custom fields",
                "Your own fields on leads, contacts, accounts and deals.",
                Role.ADMIN,
            ),
            Link("web:pipeline-settings", "Pipelines", "Deal pipelines and lost reasons.", Role.ADMIN),
            Link("sso:settings", "Single sign-on", "Sign in through your identity provider.", Role.ADMIN),
            Link("web:audit-log", "Audit log", "Who changed access and settings, and when.", Role.ADMIN),
        ),
    ),
)


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "web/forbidden.html", {"what": "Only admins manage this."}, status=403)


def _admin(request: HttpRequest) -> User | None:
    actor = member(request)
    return actor if has_role(actor, Role.ADMIN) else None


@member_required
@require_GET
def settings_index(request: HttpRequest) -> HttpResponse:
    """Every settings page the member may open, in one place (the top bar links here only)."""
    actor = member(request)
    sections = []
    for title, links in LINKS:
        shown = []
        for link in links:
            if not has_role(actor, link.role):
                continue
            try:
                shown.append({"url": reverse(link.url_name), "label": link.label, "about": link.about})
            except NoReverseMatch:  # an app that is not installed on this deployment
                continue
        if shown:
            sections.append({"title": title, "links": shown})
    return render(request, "web/settings_index.html", {"sections": sections, "nav": "settings"})


# ---- API keys ------------------------------------------------------------------------------------------


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=200)
    scope = forms.ChoiceField(choices=ApiKeyScope.choices, initial=ApiKeyScope.READ)
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires (optional)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


def _add_error(form: forms.Form, error: AppError) -> None:
    field = error.field if isinstance(error, InvalidInput) else None
    form.add_error(field if field in form.fields else None, error.message)


@member_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    actor = _admin(request)
    if actor is None:
        return _forbidden(request)
    form = ApiKeyForm(request.POST if request.method == "POST" else None)
    created: dict[str, Any] | None = None
    if request.method == "POST" and form.is_valid():
        try:
            raw, key = apikeys.api_key_create(actor=actor, request=request, **form.cleaned_data)
        except AppError as error:
            _add_error(form, error)
        else:
            created = {"key": key, "raw": raw}
            form = ApiKeyForm()
    context = {
        "form": form,
        "created": created,
        "keys": ApiKey.objects.select_related("created_by").order_by("-created_at", "-id")[:200],
        "now": timezone.now(),
        "nav": "settings",
    }
    return render(request, "web/api_keys.html", context, status=400 if form.errors else 200)


@member_required
@require_POST
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    if _admin(request) is None:
        return _forbidden(request)
    try:
        key = apikeys.api_key_revoke(key_id=key_id, request=request)
    except NotFound:
        return render(request, "web/not_found.html", {"what": "API key"}, status=404)
    messages.success(request, f"API key {key.name} revoked.")
    return redirect("web:api-keys")


# ---- webhooks ------------------------------------------------------------------------------------------


def _event_choices() -> list[tuple[str, str]]:
    namespaces = sorted({event.split(".")[0] for event in EVENT_TYPES})
    return [
        (WILDCARD, "Everything"),
        *[(f"{name}.*", f"Every {name} event") for name in namespaces],
        *[(event, event) for event in sorted(EVENT_TYPES)],
    ]


class EndpointForm(forms.Form):
    url = forms.URLField(max_length=2000, label="URL", assume_scheme="https")
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        choices=(), label="Events", widget=forms.SelectMultiple(attrs={"size": 8})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = _event_choices()  # type: ignore[attr-defined]


@member_required
@require_http_methods(["GET", "POST"])
def webhooks(request: HttpRequest) -> HttpResponse:
    actor = _admin(request)
    if actor is None:
        return _forbidden(request)
    form = EndpointForm(request.POST if request.method == "POST" else None)
    created: dict[str, Any] | None = None
    if request.method == "POST" and form.is_valid():
        try:
            made = webhook_services.endpoint_create(actor=actor, request=request, **form.cleaned_data)
        except AppError as error:
            _add_error(form, error)
        else:
            created = {"endpoint": made.endpoint, "secret": made.secret}
            form = EndpointForm()
    context = {
        "form": form,
        "created": created,
        "endpoints": webhook_selectors.endpoint_list(actor=actor).order_by("-created_at", "-id"),
        "nav": "settings",
    }
    return render(request, "web/webhooks.html", context, status=400 if form.errors else 200)


@member_required
@require_http_methods(["GET", "POST"])
def webhook_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """One endpoint: its recent deliveries; posts rotate the secret (shown once) or pause/resume it."""
    actor = _admin(request)
    if actor is None:
        return _forbidden(request)
    try:
        endpoint = webhook_selectors.endpoint_get(actor=actor, endpoint_id=endpoint_id)
    except NotFound:
        return render(request, "web/not_found.html", {"what": "webhook endpoint"}, status=404)
    rotated = ""
    if request.method == "POST":
        operation = request.POST.get("operation", "")
        changes: dict[str, Any]
        if operation == "rotate":
            rotated = signing.new_secret()
            changes = {"secret": rotated}
        elif operation in ("pause", "resume"):
            changes = {"is_active": operation == "resume"}
        else:
            return render(
                request, "web/not_found.html", {"what": "operation (rotate, pause or resume)"}, status=400
            )
        endpoint = webhook_services.endpoint_update(
            endpoint_id=endpoint_id, actor=actor, changes=changes, request=request
        )
        if not rotated:
            messages.success(request, "Endpoint resumed." if endpoint.is_active else "Endpoint paused.")
            return redirect("web:webhook", endpoint_id=endpoint_id)
    deliveries = webhook_selectors.delivery_list(actor=actor, endpoint_id=endpoint_id).order_by(
        "-created_at", "-id"
    )[:DELIVERIES_SHOWN]
    context = {"endpoint": endpoint, "deliveries": deliveries, "rotated": rotated, "nav": "settings"}
    return render(request, "web/webhook_detail.html", context)
