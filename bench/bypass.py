"""Bench only: a stand-in for OrganizationRoutingMiddleware that serves one fixed organization.

The baseline of `bench.leads_api` (installed by `bench.settings_bypass`): no Host parsing, no cache
lookup, no status check; every request runs in the schema named by the BENCH_SCHEMA environment variable.
Never used outside the bench.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse

from shared_apps.core.db import connection
from shared_apps.organizations.models import Organization


def _load(schema_name: str) -> Organization:
    try:
        return Organization.objects.get(schema_name=schema_name)
    finally:
        connections.close_all()  # this thread's connection; requests use their own


class FixedOrganizationMiddleware:
    """Set the connection to BENCH_SCHEMA's organization, `request.tenant` and the tenant URLconf."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # Read once at startup. uvicorn builds the application inside its event loop, where Django refuses
        # database access, so the query runs on a short-lived thread of its own.
        with ThreadPoolExecutor(max_workers=1) as pool:
            self.organization = pool.submit(_load, os.environ["BENCH_SCHEMA"]).result()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        connection.set_tenant(self.organization)
        request.tenant = self.organization  # type: ignore[attr-defined]
        request.urlconf = settings.ROOT_URLCONF  # type: ignore[attr-defined]
        return self.get_response(request)
