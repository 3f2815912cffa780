"""/u/<token>/: the unsubscribe link of automated email (tenant_apps.mail.unsubscribe). No sign-in; POST is
CSRF-exempt because RFC 8058's one-click POST comes from the recipient's mail provider, not from our page
(the signed token is the credential). GET only asks: mail scanners follow links."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from shared_apps.core.errors import AppError
from tenant_apps.mail.unsubscribe import address_of, unsubscribe


def _page(request: HttpRequest, *, status: int = 200, **context: object) -> HttpResponse:
    response = render(request, "web/account_page.html", context, status=status)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    title = "Unsubscribe"
    try:
        email = unsubscribe(token) if request.method == "POST" else address_of(token)
    except AppError as error:
        return _page(request, title=title, message=error.message, status=400)
    if request.method == "POST":
        return _page(request, title="Unsubscribed", message=f"{email} will receive no more of these emails.")
    return _page(
        request,
        title=title,
        form=forms.Form(),
        intro=f"Stop these emails to {email}?",
        button="Unsubscribe",
    )
