from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.template.loader import render_to_string
from rest_framework.permissions import SAFE_METHODS

from shared_apps.core.errors import json_error
from shared_apps.observability.logging import bind
from shared_apps.organizations.context import enter_organization, enter_public
from shared_apps.organizations.models import OrganizationStatus
from shared_apps.organizations.routing import organization_for_host


class OrganizationRoutingMiddleware:
    """Pick the schema and URLconf from the Host header.

    The root domain serves the platform (public schema); `<slug>.<BASE_DOMAIN>` or a registered custom
    domain serves that organization (`request.tenant`, unset on the root domain), entered through
    shared_apps.organizations.context (its database, its row as the connection's tenant).
    Unknown hosts get a 404, suspended organizations a 403: JSON under /api/ and for clients that do not ask
    for HTML, a page for a browser. /favicon.ico is answered on every host, known or not.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        enter_public()  # this thread may have served another database's organization
        # `request.tenant` is set on an organization's host only. The root domain leaves it unset rather than
        # None: django-tenants' admin templates (is_public_schema) read `request.tenant.schema_name` whenever
        # the attribute exists, so None broke every admin page after sign-in. Read it with getattr(..., None).
        if request.path == "/favicon.ico":
            return favicon()
        host, _port = split_domain_port(request._get_raw_host())  # type: ignore[attr-defined]
        host = host.lower()
        base = settings.BASE_DOMAIN
        if not host:
            return json_error(400, "invalid_host", "The Host header is missing or malformed.")
        if host == base:
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            return self.get_response(request)

        organization = organization_for_host(host)
        if organization is None or organization.status not in (
            OrganizationStatus.ACTIVE,
            OrganizationStatus.SUSPENDED,
        ):
            if wants_html(request):
                return host_page(
                    404,
                    title="No organization here",
                    message="LeadPulse serves no organization at this address.",
                    hint="Check the address for a typo, or ask your administrator for the right link.",
                    host=host,
                )
            return json_error(
                404, "organization_not_found", "No organization is served at this host.", host=host
            )
        if organization.status == OrganizationStatus.SUSPENDED:
            if wants_html(request):
                return host_page(
                    403,
                    title="This organization is suspended",
                    message=f"{organization.name} is suspended: its data is kept, but nobody can sign in.",
                    hint="Ask your administrator or LeadPulse support to resume it.",
                    host="",
                )
            return json_error(
                403,
                "organization_suspended",
                "This organization is suspended.",
                organization=organization.slug,
            )

        if not host.endswith("." + base):
            # A custom domain: the Domain table, just checked, is its allow-list (ALLOWED_HOSTS holds only
            # BASE_DOMAIN and its subdomains), so the rest of Django may trust this Host header.
            raw_host = request._get_raw_host()  # type: ignore[attr-defined]
            request.get_host = lambda: raw_host  # type: ignore[method-assign]
        if organization.moving_since is not None and request.method not in SAFE_METHODS:
            response = json_error(
                503,
                "organization_moving",
                "This organization is moving to another database; writes resume in a few seconds.",
                organization=organization.slug,
            )
            response["Retry-After"] = "5"
            return response
        # until the next request's start (not a `with` block): a streamed body is read after this returns,
        # and the connection recycling at the response's end counts the schema it served
        enter_organization(organization)
        bind(organization=organization.slug)  # the request's later log lines name it
        request.tenant = organization  # type: ignore[attr-defined]
        request.urlconf = settings.ROOT_URLCONF
        return self.get_response(request)


FAVICON = Path(__file__).resolve().parent / "static" / "organizations" / "favicon.png"


@cache
def _favicon_bytes() -> bytes:
    return FAVICON.read_bytes()


def favicon() -> HttpResponse:
    """The icon browsers ask every host for (a PNG: every current browser reads one at /favicon.ico)."""
    response = HttpResponse(_favicon_bytes(), content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def wants_html(request: HttpRequest) -> bool:
    """A browser's page load: never under /api/ (scripts read JSON there, whatever they accept), and only
    when the client asks for HTML (a browser's Accept names text/html; curl's and most clients' do not)."""
    if request.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("Accept", "")


def host_page(status: int, **context: Any) -> HttpResponse:
    """A self-contained page (no tenant, no session: nothing here may touch an organization's schema)."""
    return HttpResponse(
        render_to_string("organizations/host_error.html", context),
        status=status,
        content_type="text/html; charset=utf-8",
    )
