"""The browser's side of single sign-on on an organization's host: the redirect to the provider, the callback,
and the admins' settings page."""

from __future__ import annotations

import time
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET, require_http_methods

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import AppError, InvalidInput
from shared_apps.mfa.middleware import SATISFIED_SESSION_KEY
from shared_apps.users.models import Role
from shared_apps.users.signin import safe_next
from tenant_apps.sso import oidc, selectors, services
from tenant_apps.sso.exceptions import SsoFailed
from tenant_apps.sso.forms import SsoSettingsForm
from tenant_apps.web.views.base import member, member_required

FLOW_KEY = "sso_flow"
# The issuer a session signed in through (what lets its admin require SSO).
SIGNED_IN_KEY = "sso_signed_in_issuer"
FLOW_TTL_SECONDS = 600
BACKEND = "django.contrib.auth.backends.ModelBackend"


def callback_url(request: HttpRequest) -> str:
    """The redirect URI to register at the provider: this host's callback."""
    return request.build_absolute_uri(reverse("sso:callback"))


def signed_in_with_sso(request: HttpRequest) -> bool:
    issuer = request.session.get(SIGNED_IN_KEY)
    return bool(issuer) and issuer == selectors.sso_config_get().issuer


def _failed(request: HttpRequest, failure: AppError, email: str = "") -> HttpResponse:
    audit_record(
        "sso.sign_in_refused",
        request=request,
        changes={"code": failure.code, **({"email": email} if email else {})},
    )
    status = failure.status_code if failure.status_code < 500 else 502
    return render(
        request,
        "sso/failed.html",
        {"message": failure.message, "code": failure.code, "organization": request.tenant},  # type: ignore[attr-defined]
        status=status,
    )


@require_GET
def sso_login(request: HttpRequest) -> HttpResponse:
    """Send the browser to the provider with a new state, nonce and PKCE challenge (kept in its session)."""
    config = selectors.sso_config_get()
    if not config.enabled:
        return _failed(request, SsoFailed("Single sign-on is not enabled here.", code="sso_not_enabled"))
    url, flow = oidc.authorization_url(config=config, redirect_uri=callback_url(request))
    request.session[FLOW_KEY] = {
        **flow.as_dict(),
        "issuer": config.issuer,
        "next": safe_next(request),
        "started": time.time(),
    }
    return redirect(url)


def _pending_flow(request: HttpRequest) -> tuple[oidc.Flow, dict[str, Any]]:
    """The flow this browser started, used once: SsoFailed unless it exists, is recent and the state
    matches."""
    pending = request.session.pop(FLOW_KEY, None)
    if request.GET.get("error"):
        raise SsoFailed(
            f"The identity provider refused: {request.GET['error'][:100]}.", code="sso_provider_refused"
        )
    if not isinstance(pending, dict) or time.time() - float(pending.get("started", 0)) > FLOW_TTL_SECONDS:
        raise SsoFailed(
            "This sign-in was not started here or took too long; start again.", code="sso_no_flow"
        )
    if not constant_time_compare(request.GET.get("state", ""), pending["state"]):
        raise SsoFailed(
            "The sign-in's state does not match this browser's; start again.", code="sso_state_mismatch"
        )
    return oidc.Flow(pending["state"], pending["nonce"], pending["code_verifier"]), pending


@require_GET
def sso_callback(request: HttpRequest) -> HttpResponse:
    """Check the state, exchange the code, verify the ID token, find (or make) the member and sign them in."""
    email = ""
    try:
        flow, pending = _pending_flow(request)
        config = selectors.sso_config_get()
        if not config.enabled or config.issuer != pending["issuer"]:
            raise SsoFailed(
                "Single sign-on changed during this sign-in; start again.", code="sso_config_changed"
            )
        code = request.GET.get("code", "")
        if not code or len(code) > 2000:
            raise SsoFailed("The identity provider sent no sign-in code.", code="sso_code_missing")
        claims = oidc.sign_in_claims(config=config, flow=flow, code=code, redirect_uri=callback_url(request))
        email = str(claims.get("email") or "")[:254]
        user, created = services.sso_member_sign_in(config=config, claims=claims)
    except AppError as failure:
        return _failed(request, failure, email)
    if created:
        audit_record(
            "member.joined_through_sso", request=request, actor=user, target=user, changes={"role": user.role}
        )
    # read by the audit log's sign-in receiver
    request.auth_method = "sso"  # type: ignore[attr-defined]
    login(request, user, backend=BACKEND)
    request.session[SIGNED_IN_KEY] = config.issuer
    # the provider is the second factor: an organization requiring two-factor sign-in lets this session in
    request.session[SATISFIED_SESSION_KEY] = "sso"
    return redirect(pending["next"] or "/")


@member_required
@require_http_methods(["GET", "POST"])
def sso_settings(request: HttpRequest) -> HttpResponse:
    """The admins' page: the provider, who joins on first sign-in, enabling and requiring SSO."""
    if member(request).role != Role.ADMIN:
        return render(
            request, "web/forbidden.html", {"what": "Single sign-on is set up by admins."}, status=403
        )
    config = selectors.sso_config_get()
    initial = {
        "issuer": config.issuer,
        "client_id": config.client_id,
        "allowed_domains": ", ".join(config.allowed_domains),
        "default_role": config.default_role,
        "enabled": config.enabled,
        "require_sso": config.require_sso,
    }
    form = SsoSettingsForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                config, changed = services.sso_config_update(
                    changes=form.changes(), signed_in_with_sso=signed_in_with_sso(request)
                )
            except InvalidInput as invalid:
                form.add_error(invalid.field if invalid.field in form.fields else None, invalid.message)
            else:
                if changed:
                    audit_record("sso.settings_changed", request=request, target=config, changes=changed)
                messages.success(request, "Single sign-on settings saved.")
                return redirect("sso:settings")
    context = {"form": form, "config": config, "redirect_uri": callback_url(request), "nav": "sso"}
    return render(request, "sso/settings.html", context, status=status)
