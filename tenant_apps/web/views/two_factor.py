"""A member's two-factor sign-in: the code's page after the password, and their own settings page (the
logic is shared with the operators' console: shared_apps.mfa.web)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from shared_apps.mfa import web as mfa_web
from tenant_apps.web.views.base import member_required


@require_http_methods(["GET", "POST"])
def sign_in_second_step(request: HttpRequest) -> HttpResponse:
    return mfa_web.second_factor_page(
        request,
        template="mfa/second_factor.html",
        may_enter=lambda user: True,
        context={"base_template": "web/base.html", "organization": request.tenant},  # type: ignore[attr-defined]
    )


@member_required
@require_http_methods(["GET", "POST"])
def two_factor_settings(request: HttpRequest) -> HttpResponse:
    return mfa_web.settings_page(request, base_template="web/base.html")
