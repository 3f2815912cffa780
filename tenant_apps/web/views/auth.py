"""Signing in and out, and changing one's password."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from shared_apps.audit.services import audit_record
from shared_apps.users.sessions import session_stay_signed_in, sessions_end_others
from shared_apps.users.signin import safe_next, sign_in_page
from tenant_apps.sso.selectors import sso_enabled
from tenant_apps.web.views.base import member, member_required


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """Email and password of a member of this organization (users exist per organization's schema)."""
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(safe_next(request))
    return sign_in_page(
        request,
        template="web/sign_in.html",
        may_enter=lambda user: True,
        refusal="Email or password is wrong, or the account is inactive.",
        context={"organization": request.tenant, "sso_enabled": sso_enabled()},  # type: ignore[attr-defined]
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("web:sign-in")


@member_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(member(request), request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # other sessions end (the hash is the password's) and leave the list; this one stays signed in
        sessions_end_others(user=user, keep_session_key=request.session.session_key)
        session_stay_signed_in(request=request, user=user)
        audit_record("password.changed", request=request, target=user)
        messages.success(request, "Your password was changed.")
        return redirect("web:dashboard")
    return render(request, "web/password.html", {"form": form}, status=400 if form.errors else 200)
