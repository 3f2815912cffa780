"""Two-factor sign-in in the browser, for the members' pages and the operators' console alike (each wraps
these with its own sign-in check and base template).

Signing in is two steps: after a correct password (shared_apps.users.signin) a user with an authenticator is
not signed in; the session remembers who they are for TWO_FACTOR_PENDING_SECONDS, and the second page asks
for a code (or a recovery code) before calling login(), which gives the session a new key."""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from shared_apps.core.errors import AppError, InvalidInput
from shared_apps.http.throttling import sign_in_wait
from shared_apps.mfa import services
from shared_apps.mfa.exceptions import OtpRequired
from shared_apps.mfa.forms import CodeForm, DisableForm, SecondFactorForm
from shared_apps.mfa.throttling import code_attempt_wait
from shared_apps.users.models import User

PENDING_KEY = "two_factor_pending"
SIGN_IN = "/sign-in/"
SECOND_STEP = "/sign-in/two-factor/"


def second_factor_begin(request: HttpRequest, user: User, *, next_url: str) -> HttpResponse:
    """The password was right: remember the user (not signed in) and ask for the second factor."""
    request.session[PENDING_KEY] = {
        "user_id": user.pk,
        "at": time.time(),
        "next": next_url,
        "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[0]),
    }
    return redirect(SECOND_STEP)


def _pending(request: HttpRequest) -> dict[str, Any] | None:
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("at", 0)) > settings.TWO_FACTOR_PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        return None
    return pending


def second_factor_page(
    request: HttpRequest, *, template: str, may_enter: Any, context: dict[str, Any] | None = None
) -> HttpResponse:
    """The second step: the form (GET) or a code (POST), throttled with the sign-in counters of the account.
    Without a pending sign-in (none, or expired) it sends the reader back to the password."""
    pending = _pending(request)
    user = None
    if pending is not None:
        user = User.objects.filter(pk=pending["user_id"], is_active=True).first()
    if pending is None or user is None or not may_enter(user) or not services.two_factor_enabled(user):
        request.session.pop(PENDING_KEY, None)
        messages.info(request, "Sign in with your password first (or again: the page waited too long).")
        return redirect(SIGN_IN)
    form = SecondFactorForm(request.POST or None)
    status = 200
    if request.method == "POST":
        wait = sign_in_wait(request, user.email)  # attempts add up with the password's
        if wait is not None:
            form.add_error(None, f"Too many attempts. Try again in {int(wait)} seconds.")
            status = 429
        elif form.is_valid():
            try:
                method = services.second_factor_check(
                    user=user,
                    otp=form.cleaned_data["code"],
                    recovery_code=form.cleaned_data["recovery_code"],
                    request=request,
                )
            except OtpRequired:
                form.add_error("code", "Enter the code your authenticator app shows, or a recovery code.")
            except InvalidInput as error:
                form.add_error("code" if error.field == "otp" else "recovery_code", error.message)
            else:
                request.session.pop(PENDING_KEY, None)
                # how this sign-in was made, for the audit log's user_logged_in receiver
                request.auth_method = method  # type: ignore[attr-defined]
                login(request, user, backend=pending["backend"])
                return redirect(pending["next"] or "/")
            status = 400
        else:
            status = 400
    return render(request, template, {**(context or {}), "form": form}, status=status)


def settings_page(request: HttpRequest, *, base_template: str) -> HttpResponse:
    """The signed-in user's own two-factor sign-in: set up (start, confirm: the recovery codes are shown
    once), new recovery codes, turn off. POST `action` says which; a refusal shows on the page with its
    status."""
    user: User = request.user  # type: ignore[assignment]
    status, shown_codes = 200, None
    forms_: dict[str, forms.Form] = {"code": CodeForm(), "disable": DisableForm()}
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "start":
                services.enrolment_start(user=user)
            elif action in ("confirm", "regenerate"):
                forms_["code"] = code_form = CodeForm(request.POST)
                if not code_form.is_valid():
                    raise InvalidInput("code", "Enter the code your authenticator app shows.")
                _code_attempt(request, user)
                verb = (
                    services.enrolment_confirm if action == "confirm" else services.recovery_codes_regenerate
                )
                shown_codes = verb(user=user, code=code_form.cleaned_data["code"], request=request)
            elif action == "disable":
                forms_["disable"] = disable_form = DisableForm(request.POST)
                if not disable_form.is_valid():
                    raise InvalidInput("code", "Enter your password and a code.")
                _code_attempt(request, user)
                services.two_factor_disable(
                    user=user,
                    password=disable_form.cleaned_data["password"],
                    code=disable_form.cleaned_data["code"],
                    request=request,
                )
                messages.success(request, "Two-factor sign-in is off.")
                return redirect(request.path)
            else:
                raise InvalidInput("action", "Unknown action.")
        except AppError as error:
            messages.error(request, error.message)
            status = getattr(error, "status_code", 400)
    device = services.confirmed_device(user)
    context = {
        "base_template": base_template,
        "enabled": device is not None,
        "device": device,
        "pending": None if device else services.pending_enrolment(user=user),
        "required": services.two_factor_required(),
        "recovery_codes": shown_codes,
        "recovery_codes_left": services.recovery_codes_left(user) if device else 0,
        "code_form": forms_["code"],
        "disable_form": forms_["disable"],
    }
    return render(request, "mfa/settings.html", context, status=status)


class _Throttled(AppError):
    status_code = 429
    code = "throttled"


def _code_attempt(request: HttpRequest, user: User) -> None:
    wait = code_attempt_wait(request, user)
    if wait is not None:
        raise _Throttled(f"Too many attempts. Try again in {int(wait)} seconds.")
