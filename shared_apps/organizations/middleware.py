from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
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
    Unknown hosts get a 404, suspended organizations a 403, both JSON.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        enter_public()  # this thread may have served another database's organization
        # `request.tenant` is set on an organization's host only. The root domain leaves it unset rather than
        # None: django-tenants' admin templates (is_public_schema) read `request.tenant.schema_name` whenever
        # the attribute exists, so None broke every admin page after sign-in. Read it with getattr(..., None).
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
            return json_error(
                404, "organization_not_found", "No organization is served at this host.", host=host
            )
        if organization.status == OrganizationStatus.SUSPENDED:
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
