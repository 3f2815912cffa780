"""An operator's two-factor sign-in on the console: the code's page after the password, and their own
settings page (shared with the members' pages: shared_apps.mfa.web)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from shared_apps.console.views import operator_required
from shared_apps.mfa import web as mfa_web


@require_http_methods(["GET", "POST"])
def sign_in_second_step(request: HttpRequest) -> HttpResponse:
    return mfa_web.second_factor_page(
        request,
        template="mfa/second_factor.html",
        may_enter=lambda user: user.is_staff,
        context={"base_template": "console/base.html"},
    )


@operator_required
@require_http_methods(["GET", "POST"])
def two_factor_settings(request: HttpRequest) -> HttpResponse:
    return mfa_web.settings_page(request, base_template="console/base.html")
