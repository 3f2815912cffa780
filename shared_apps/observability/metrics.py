"""Prometheus metrics at `/metrics` on the root domain, for operators.

Requests (by route pattern, method and status) and their latency are counted in this process by
`RequestContextMiddleware`. Jobs by queue and state and organizations by status are read when scraped
(from rq's registries in Redis and from the public schema), so they are right whichever process ran the
job. With several processes per pod (gunicorn workers) set PROMETHEUS_MULTIPROC_DIR: see deploy/README.md.

Access: `Authorization: Bearer <METRICS_TOKEN>` or an operator's bearer token.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shared_apps.core.errors import json_error

REQUESTS = Counter("leadpulse_http_requests", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram(
    "leadpulse_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Not the probes or the scrape itself: they would drown the routes people use.
_UNCOUNTED_ROUTES = frozenset({"healthz", "readyz", "metrics"})


def observe_request(*, route: str, method: str, status: int, seconds: float) -> None:
    if route in _UNCOUNTED_ROUTES:
        return
    # the labelled children, looked up once per label values (prometheus' labels() costs ~10 µs a call)
    counter = _counted.get((route, method, status))
    if counter is None:
        counter = _counted[(route, method, status)] = REQUESTS.labels(
            route=route, method=method, status=str(status)
        )
    histogram = _timed.get(route)
    if histogram is None:
        histogram = _timed[route] = LATENCY.labels(route=route)
    counter.inc()
    histogram.observe(seconds)


# bounded as the labels are: routes are URL patterns, methods and statuses a few
_counted: dict[tuple[str, str, int], Any] = {}
_timed: dict[str, Any] = {}


class JobsCollector(Collector):
    """rq jobs per queue and state, read from Redis at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        import django_rq
        from rq.registry import (
            DeferredJobRegistry,
            FailedJobRegistry,
            FinishedJobRegistry,
            ScheduledJobRegistry,
            StartedJobRegistry,
        )

        family = GaugeMetricFamily(
            "leadpulse_rq_jobs", "rq jobs by queue and state", labels=["queue", "state"]
        )
        registries = {
            "started": StartedJobRegistry,
            "finished": FinishedJobRegistry,
            "failed": FailedJobRegistry,
            "deferred": DeferredJobRegistry,
            "scheduled": ScheduledJobRegistry,
        }
        for name in settings.RQ_QUEUES:
            queue = django_rq.get_queue(name)
            family.add_metric([name, "queued"], queue.count)
            for state, registry in registries.items():
                family.add_metric([name, state], registry(queue=queue).count)
        yield family


class OrganizationsCollector(Collector):
    """Organizations by status (one small GROUP BY on the public schema per scrape)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count
        from django_tenants.utils import schema_context

        from shared_apps.organizations.models import Organization, OrganizationStatus

        family = GaugeMetricFamily("leadpulse_organizations", "Organizations by status", labels=["status"])
        with schema_context("public"):
            counts = dict(
                Organization.objects.order_by()
                .values_list("status")
                .annotate(n=Count("id"))
                .values_list("status", "n")
            )
        for status in OrganizationStatus.values:
            family.add_metric([status], counts.get(status, 0))
        yield family


def registry() -> CollectorRegistry:
    """What a scrape reports: this process's (or, in multiprocess mode, every process's) request metrics,
    plus the collectors read at scrape time."""
    scrape = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(scrape)
    else:
        for metric in (REQUESTS, LATENCY):
            scrape.register(metric)
    scrape.register(JobsCollector())
    scrape.register(OrganizationsCollector())
    return scrape


def _authorized(request: HttpRequest) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        return False
    expected = getattr(settings, "METRICS_TOKEN", "")
    if expected and hmac.compare_digest(raw.encode(), expected.encode()):
        return True
    from django_tenants.utils import schema_context

    from shared_apps.users.models import AuthToken, token_digest

    with schema_context("public"):  # operators' tokens live in the public schema
        token = AuthToken.objects.select_related("user").filter(digest=token_digest(raw)).first()
    return bool(
        token is not None
        and not token.is_expired(timezone.now())
        and token.user.is_active
        and token.user.is_staff
    )


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        response = json_error(
            401, "not_authenticated", "An operator's token or the metrics token is required."
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
