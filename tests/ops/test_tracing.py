"""OpenTelemetry tracing (shared_apps/observability/tracing.py): off and not even imported without OTEL_*
settings; on, a tenant request gives a server span naming the organization, member and request id with the
database spans under it, and a job gives a span naming the job, its function and organization. Real SDK,
in-memory exporter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import django_rq
import pytest
from django_tenants.utils import schema_context
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from rest_framework.test import APIClient

from shared_apps.observability import tracing
from shared_apps.organizations.jobs import OrganizationJob
from shared_apps.organizations.models import Organization
from shared_apps.users.models import User
from tests.conftest import host_of
from tests.shared_apps.organizations.test_jobs import where_am_i

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROBE = """
import json, sys
import django
django.setup()
import psycopg, redis
from django.conf import settings
# (redis-py imports parts of OpenTelemetry by itself when it is installed: not a cost of ours)
imported = {
    "instrumentation_imported": any(name.startswith("opentelemetry.instrumentation") for name in sys.modules),
}
from opentelemetry import trace
from shared_apps.observability import tracing
print(json.dumps({
    **imported,
    "enabled": tracing.enabled(),
    "provider": type(trace.get_tracer_provider()).__name__,
    "middleware": [m for m in settings.MIDDLEWARE if "tracing" in m or "opentelemetry" in m],
    "psycopg_wrapped": hasattr(psycopg.connect, "__wrapped__"),
    "redis_wrapped": hasattr(redis.Redis.execute_command, "__wrapped__"),
    "service": getattr(getattr(trace.get_tracer_provider(), "resource", None), "attributes", {}).get(
        "service.name"),
}))
"""


def probe(**otel: str) -> dict[str, Any]:
    """A fresh process's view after django.setup(), with only the given OTEL_* variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(otel, DJANGO_SETTINGS_MODULE="config.settings.test")
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_without_otel_settings_nothing_is_installed_or_imported():
    assert probe() == {
        "instrumentation_imported": False,
        "enabled": False,
        "provider": "ProxyTracerProvider",
        "middleware": [],
        "psycopg_wrapped": False,
        "redis_wrapped": False,
        "service": None,
    }
    assert (
        probe(OTEL_TRACES_EXPORTER="none", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")["middleware"]
        == []
    )


def test_an_exporter_or_an_otlp_endpoint_switches_tracing_on():
    on = probe(OTEL_TRACES_EXPORTER="console")
    assert (on["enabled"], on["provider"], on["middleware"], on["service"]) == (
        True,
        "TracerProvider",
        [tracing.MIDDLEWARE],
        "leadpulse",
    )
    assert (on["psycopg_wrapped"], on["redis_wrapped"]) == (True, True)
    named = probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318", OTEL_SERVICE_NAME="lp-worker")
    assert (named["middleware"], named["service"]) == ([tracing.MIDDLEWARE], "lp-worker")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ["console", "otlp"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, []),
    ],
)
def test_the_standard_variables_decide_the_exporters(environ, expected):
    assert tracing.exporter_names(environ) == expected


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, into memory. Connections opened from now on are traced: the tests make
    theirs in a thread of their own (in_own_thread), outside the test's transaction."""
    exporter = InMemorySpanExporter()
    assert not tracing.enabled()
    tracing.setup({}, exporter=exporter, set_global=False)
    try:
        yield exporter
    finally:
        tracing.teardown()


def _by_kind(finished: Any, kind: SpanKind) -> list[Any]:
    return [span for span in finished if span.kind == kind]


def _queries_under(finished: Any, root: Any) -> list[Any]:
    return [
        span
        for span in _by_kind(finished, SpanKind.CLIENT)
        if span.context.trace_id == root.context.trace_id
        and ("db.system" in span.attributes or "db.system.name" in span.attributes)
    ]


def test_a_tenant_request_has_a_server_span_naming_the_organization_with_db_spans_under_it(
    spans, in_own_thread
):
    acme = Organization.objects.get(slug="acme")
    admin_pk = in_own_thread(lambda: _admin_pk(acme))
    spans.clear()

    def serve() -> Any:
        client = APIClient(HTTP_HOST=host_of(acme))
        client.force_authenticate(user=_admin(acme))
        return client.get("/api/members/")

    response = in_own_thread(serve)
    assert response.status_code == 200

    finished = spans.get_finished_spans()
    (server,) = _by_kind(finished, SpanKind.SERVER)
    assert server.name == "GET api/members/"
    attributes = dict(server.attributes)
    assert attributes["leadpulse.organization"] == "acme"
    assert attributes["leadpulse.schema"] == acme.schema_name
    assert attributes["leadpulse.member"] == admin_pk
    assert attributes["leadpulse.request_id"] == response["X-Request-ID"]
    assert attributes["http.route"] == "api/members/"
    queries = _queries_under(finished, server)
    assert queries, [span.name for span in finished]
    assert any(span.parent.span_id == server.context.span_id for span in queries)
    # the view's queries (not the routing middleware's, which run before the organization is known)
    # say whose they were
    members = [span for span in queries if "users_user" in str(_statement(span))]
    assert members, [_statement(span) for span in queries]
    assert {
        (span.attributes.get("leadpulse.organization"), span.attributes.get("leadpulse.request_id"))
        for span in members
    } == {("acme", response["X-Request-ID"])}


def _statement(span: Any) -> Any:
    return span.attributes.get("db.statement", span.attributes.get("db.query.text"))


def _admin(organization: Organization) -> User:
    with schema_context(organization.schema_name):
        return User.objects.get(email=f"admin@{organization.slug}.test")


def _admin_pk(organization: Organization) -> int:
    return _admin(organization).pk


def test_hosts_the_routing_middleware_answers_keep_their_json_answers(spans, in_own_thread):
    unknown = in_own_thread(lambda: APIClient(HTTP_HOST="nowhere.example.org").get("/api/leads/"))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "organization_not_found")
    root = in_own_thread(lambda: APIClient(HTTP_HOST=host_of(None)).get("/healthz"))
    assert root.status_code == 200
    (server,) = [
        span for span in _by_kind(spans.get_finished_spans(), SpanKind.SERVER) if "healthz" in span.name
    ]
    assert server.attributes["leadpulse.schema"] == "public"
    assert "leadpulse.organization" not in server.attributes


def test_a_job_has_a_span_naming_the_job_function_and_organization(spans, in_own_thread):
    acme = Organization.objects.get(slug="acme")
    job = django_rq.get_queue("default").create_job(where_am_i, meta={"schema_name": acme.schema_name})
    assert isinstance(job, OrganizationJob)
    spans.clear()

    def work() -> Any:
        return job.perform()  # OrganizationJob.perform runs in tracing.job_span

    assert in_own_thread(work) == (acme.schema_name, ["admin@acme.test"])

    finished = spans.get_finished_spans()
    (span,) = _by_kind(finished, SpanKind.CONSUMER)
    assert span.name == "rq tests.shared_apps.organizations.test_jobs.where_am_i"
    expected = {
        "messaging.system": "rq",
        "messaging.message.id": job.id,
        "messaging.destination.name": "default",
        "code.function.name": "tests.shared_apps.organizations.test_jobs.where_am_i",
        "leadpulse.job_id": job.id,
        "leadpulse.organization": "acme",
        "leadpulse.schema": acme.schema_name,
    }
    assert {key: span.attributes.get(key) for key in expected} == expected
    queries = _queries_under(finished, span)
    assert queries and all(query.attributes.get("leadpulse.job_id") == job.id for query in queries)


def test_a_failing_job_span_records_the_error(spans, db):
    job = django_rq.get_queue("default").create_job(where_am_i)  # a tenant job without an organization
    with pytest.raises(Exception, match="organization"):
        job.perform()
    (span,) = _by_kind(spans.get_finished_spans(), SpanKind.CONSUMER)
    assert span.status.status_code.name == "ERROR"
    assert [event.name for event in span.events] == ["exception"]


def test_the_worker_runs_each_job_in_a_span(spans, org, run_jobs, django_capture_on_commit_callbacks):
    """OrganizationJob.perform wraps the job in tracing.job_span (wired by the job class)."""
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue("default").enqueue(where_am_i)
    spans.clear()
    (job,) = run_jobs()
    assert job.is_finished, job.latest_result().exc_string
    (span,) = _by_kind(spans.get_finished_spans(), SpanKind.CONSUMER)
    assert span.name == "rq tests.shared_apps.organizations.test_jobs.where_am_i"
    assert span.status.status_code.name != "ERROR"
    attributes = dict(span.attributes)
    assert attributes["messaging.message.id"] == job.id
    assert attributes["messaging.destination.name"] == "default"
    assert attributes["code.function.name"] == "tests.shared_apps.organizations.test_jobs.where_am_i"
