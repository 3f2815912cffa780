"""What tenant resolution, authentication, permission checks and throttling add to each request, in µs.

Measured in-process through Django's WSGI handler (`django.core.handlers.wsgi.WSGIHandler`, the whole
middleware stack; no HTTP server, no socket), on the `benchauth` organization of the `<db>_bench` database,
against views of this module's own URLconf (ROOT_URLCONF points here during the run) that answer the same
constant body and differ by one layer each:

    open, routing bypassed  no Host lookup (bench.bypass's fixed organization), no credentials (the baseline)
    open                    + tenant resolution (OrganizationRoutingMiddleware: the Host -> organization)
    authenticated           + the credential looked up (bearer token or API key)        -> authentication
    permitted               + IsMember and RolePermission                               -> permission checks
    member                  + PlanRateThrottle and the Idempotency-Key check, i.e. OrganizationView unchanged
                                                                                        -> throttling

Every variant is timed request by request, interleaved round by round (order rotated), after a warm-up (the
route and credential caches filled and the process's copies of them kept, the token's last_used_at written
at most once a minute). A warm request makes no Redis round trip: the route, the credentials generation and
the plan's limits are the process's copies (shared_apps.core.nearcache), and the plan throttle counts in the
process, its counts sent behind by a background thread every 50 ms (shared_apps.http.throttling.plan_wait).
Medians are reported, with the added cost of each layer (differences of medians). Target (issue 21): tenant
resolution + authentication + permissions + throttling together <= 300 µs.
"""

from __future__ import annotations

import io
import logging
import os
import statistics
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from bench.common import own_redis, report, setup_django

ROUNDS = int(os.environ.get("BENCH_AUTH_ROUNDS", "2000"))
WARMUP = 200
SLUG = "benchauth"
MEMBER_EMAIL = f"bench-member@{SLUG}.example"
PASSWORD = "bench-password-2026"
TARGET_US = 300.0
BYPASSED = "open, routing bypassed (baseline)"
OPEN = "open (no credentials)"
OPEN_QUERY = "open + SELECT 1"


# ---- the bench's URLconf ---------------------------------------------------------------------------------


@cache
def _urlpatterns() -> list[Any]:
    """Built on first use (Django must be set up before DRF views can be defined)."""
    from django.db import connection
    from django.urls import path
    from rest_framework.permissions import AllowAny
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from shared_apps.http.api import OrganizationView

    class Open(APIView):
        authentication_classes: list[Any] = []
        permission_classes = [AllowAny]
        throttle_classes: list[Any] = []

        def get(self, request: Request) -> Response:
            return Response({"ok": True})

    class OpenQuery(Open):
        def get(self, request: Request) -> Response:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return Response({"ok": True})

    class Authenticated(OrganizationView):
        """DRF authenticates in initial() whatever the permissions: the credential is looked up only."""

        permission_classes = [AllowAny]
        throttle_classes: list[Any] = []

        def get(self, request: Request) -> Response:
            return Response({"ok": True})

    class Permitted(Authenticated):
        permission_classes = OrganizationView.permission_classes

    class Member(Permitted):
        throttle_classes = OrganizationView.throttle_classes

    views = {"open": Open, "open-query": OpenQuery, "authenticated": Authenticated}
    views.update({"permitted": Permitted, "member": Member})
    return [path(f"{name}/", view.as_view()) for name, view in views.items()]


def __getattr__(name: str) -> Any:
    # ROOT_URLCONF = "bench.auth_overhead" during the run: Django reads `urlpatterns` from this module
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


# ---- set-up ----------------------------------------------------------------------------------------------


def _organization() -> Any:
    from shared_apps.organizations.models import Organization, OrganizationStatus
    from shared_apps.organizations.services import organization_provision

    organization = Organization.objects.filter(slug=SLUG).exclude(status=OrganizationStatus.DELETED).first()
    if organization is None:
        organization = organization_provision(
            name="Bench auth", slug=SLUG, admin_email=f"admin@{SLUG}.example", admin_password=PASSWORD
        )
    if organization.status != OrganizationStatus.ACTIVE:
        raise SystemExit(f"organization {SLUG} is {organization.status}; reactivate or purge it first")
    return organization


class Caller:
    """One request kind: a path and the credential headers, sent through the WSGI handler."""

    def __init__(self, handler: Any, host: str, path: str, headers: dict[str, str]) -> None:
        self.handler, self.host, self.path, self.headers = handler, host, path, headers
        self.status = ""

    def _start_response(self, status: str, headers: list[Any], exc_info: Any = None) -> None:
        self.status = status

    def __call__(self) -> float:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": self.path,
            "QUERY_STRING": "",
            "SERVER_NAME": self.host,
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": self.host,
            "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http",
            "wsgi.errors": io.StringIO(),
            **self.headers,
        }
        start = time.perf_counter()
        response = self.handler(environ, self._start_response)
        b"".join(response)
        response.close()
        elapsed = time.perf_counter() - start
        if not self.status.startswith("200"):
            raise RuntimeError(f"GET {self.path} with {sorted(self.headers)} answered {self.status}")
        return elapsed


def _queries(call: Caller) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured.captured_queries)


REDIS_DB = int(os.environ.get("BENCH_AUTH_REDIS_DB", "11"))


def main() -> None:
    own_redis(REDIS_DB)
    setup_django()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings
    from django_tenants.utils import schema_context

    from shared_apps.core.db import connection
    from shared_apps.users.apikeys import api_key_create
    from shared_apps.users.models import ApiKey, ApiKeyScope, Role, User
    from shared_apps.users.services import token_issue, token_revoke

    organization = _organization()
    host = f"{SLUG}.{settings.BASE_DOMAIN}"
    with schema_context(organization.schema_name):
        member = User.objects.filter(email=MEMBER_EMAIL).first() or User.objects.create_user(
            MEMBER_EMAIL, PASSWORD, role=Role.ADMIN
        )
        raw_token, token = token_issue(email=MEMBER_EMAIL, password=PASSWORD)
        raw_key, key = api_key_create(actor=member, name="auth overhead bench", scope=ApiKeyScope.WRITE)
    connection.set_schema_to_public()
    credentials = {
        "bearer token": {"HTTP_AUTHORIZATION": f"Bearer {raw_token}"},
        "API key": {"HTTP_X_API_KEY": raw_key},
    }

    # a limit no run reaches
    unlimited = {plan: "100000000/min" for plan in ("free", "team", "business", "enterprise")}
    # every variant logs its access line alike; 30,000 of them on the terminal would only add noise
    logging.getLogger("leadpulse.access").disabled = True
    try:
        with override_settings(ROOT_URLCONF=__name__, THROTTLE_RATES_BY_PLAN=unlimited, DEBUG=False):
            handler = WSGIHandler()
            os.environ["BENCH_SCHEMA"] = organization.schema_name
            routing = "shared_apps.organizations.middleware.OrganizationRoutingMiddleware"
            bypass = [
                "bench.bypass.FixedOrganizationMiddleware" if name == routing else name
                for name in settings.MIDDLEWARE
            ]
            with override_settings(MIDDLEWARE=bypass):
                bypassed = WSGIHandler()
            variants: dict[str, tuple[Caller, Callable[[], None] | None]] = {
                BYPASSED: (Caller(bypassed, host, "/open/", {}), None),
                OPEN: (Caller(handler, host, "/open/", {}), None),
                OPEN_QUERY: (Caller(handler, host, "/open-query/", {}), None),
            }
            for kind, headers in credentials.items():
                variants[f"{kind}: authenticated"] = (Caller(handler, host, "/authenticated/", headers), None)
                variants[f"{kind}: + permissions"] = (Caller(handler, host, "/permitted/", headers), None)
                variants[f"{kind}: + throttle"] = (Caller(handler, host, "/member/", headers), None)

            samples: dict[str, list[float]] = {name: [] for name in variants}
            names = list(variants)
            for round_ in range(-WARMUP, ROUNDS):
                shift = round_ % len(names)
                for name in names[shift:] + names[:shift]:
                    call, prepare = variants[name]
                    if prepare is not None:
                        prepare()
                    elapsed = call()
                    if round_ >= 0:
                        samples[name].append(elapsed)
            queries = {name: _queries(call) for name, (call, _prepare) in variants.items()}
    finally:
        with schema_context(organization.schema_name):
            token_revoke(token=token)
            ApiKey.objects.filter(pk=key.pk).delete()  # not kept as a revoked key: one per run would pile up

    print(
        f"\norganization {SLUG}, host {host}; in-process through django.core.handlers.wsgi.WSGIHandler "
        f"(full middleware stack, no HTTP server); {ROUNDS} requests per variant, interleaved"
    )
    report("GET of a constant body, per request", samples, unit="µs", scale=1e6, baseline=BYPASSED)
    median = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    print("\nSQL queries per request: " + ", ".join(f"{name} {count}" for name, count in queries.items()))
    base = median[BYPASSED]
    routing_us = median[OPEN] - base
    print(f"\nAdded per request (differences of medians; load average {os.getloadavg()[0]:.1f})")
    for kind in credentials:
        auth = median[f"{kind}: authenticated"] - median[OPEN]
        permissions = median[f"{kind}: + permissions"] - median[f"{kind}: authenticated"]
        throttle = median[f"{kind}: + throttle"] - median[f"{kind}: + permissions"]
        total = median[f"{kind}: + throttle"] - base
        verdict = "within" if total <= TARGET_US else "OVER"
        print(
            f"  {kind:<13} tenant resolution {routing_us:6.1f} µs   authentication {auth:7.1f} µs   "
            f"permissions {permissions:6.1f} µs   throttle {throttle:6.1f} µs   "
            f"total {total:7.1f} µs ({verdict} the {TARGET_US:.0f} µs target)"
        )
    first_query = median[OPEN_QUERY] - median[OPEN]
    print(
        f"\nFor scale: {first_query:.1f} µs is what a request's first query costs anyway (the schema's "
        "search_path is set on the connection, then the query): open + SELECT 1 vs open."
    )
