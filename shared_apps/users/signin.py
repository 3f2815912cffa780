"""Signing in with email and password through a page: the members' pages on an organization's host and the
operators' console on the root domain share it (users live in the schema being served, so the same code signs
a member into their organization and an operator into the public schema)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.auth import authenticate, login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from shared_apps.audit.services import audit_record, sign_in_method
from shared_apps.core.errors import AppError
from shared_apps.http.throttling import sign_in_wait
from shared_apps.mfa.services import two_factor_enabled
from shared_apps.mfa.web import second_factor_begin
from shared_apps.users.models import User
from shared_apps.users.policies import password_sign_in_check


class SignInForm(forms.Form):
    email = forms.CharField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        max_length=200, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()


def is_local(request: HttpRequest, target: str) -> bool:
    """Whether `target` is a URL of this host (so a redirect to it cannot send the reader elsewhere)."""
    return bool(target) and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})


def safe_next(request: HttpRequest) -> str:
    """Where to go after signing in: the `next` the page carried when it is a URL of this host, else "/"."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if is_local(request, target) else "/"


def sign_in_page(
    request: HttpRequest,
    *,
    template: str,
    may_enter: Callable[[User], bool],
    refusal: str,
    context: dict[str, Any] | None = None,
) -> HttpResponse:
    """The form (GET) or an attempt (POST): throttled per client address and email and per account (429, the
    same counters as the API's sign-in), then the user must
    exist here, be active and pass `may_enter`, else `refusal` (400) without saying which check failed.
    A user with two-factor sign-in is sent on to the code's page (shared_apps.mfa.web), not signed in."""
    form = SignInForm(request.POST or None)
    status = 200
    if request.method == "POST":
        wait = sign_in_wait(request, request.POST.get("email"))  # the API's counters: attempts add up
        if wait is not None:
            form.add_error(None, f"Too many attempts. Try again in {int(wait)} seconds.")
            status = 429
        elif form.is_valid():
            user = authenticate(
                request, username=form.cleaned_data["email"], password=form.cleaned_data["password"]
            )
            refused = None
            if isinstance(user, User) and user.is_active and may_enter(user):
                try:
                    password_sign_in_check(user)  # e.g. an organization that requires single sign-on
                except AppError as refusal_by_rule:
                    refused = refusal_by_rule
                else:
                    if two_factor_enabled(user):  # not signed in yet: the code comes on the next page
                        return second_factor_begin(request, user, next_url=safe_next(request))
                    login(request, user)
                    return redirect(safe_next(request))
            if user is not None:  # right password, refused here (a wrong one is recorded by authenticate)
                changes = {"email": form.cleaned_data["email"], "method": sign_in_method(request)}
                if refused is not None:
                    changes["refused"] = refused.code
                audit_record("sign_in.failed", request=request, changes=changes)
            form.add_error(None, refused.message if refused else refusal)
            status = refused.status_code if refused else 400
        else:
            status = 400
    return render(
        request, template, {**(context or {}), "form": form, "next": safe_next(request)}, status=status
    )
