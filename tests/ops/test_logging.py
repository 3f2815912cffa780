"""Structured JSON logs: one access line per request, request ids, job context."""

from __future__ import annotations

import json
import logging
import logging.config

import pytest
from django.conf import settings
from django.http import JsonResponse
from django.test import RequestFactory

from shared_apps.observability.logging import (
    JobContextFilter,
    JsonFormatter,
    RequestContextMiddleware,
    logging_config,
)
from shared_apps.organizations.jobs import enqueue_in_organization
from tests.conftest import client_for


@pytest.fixture
def access_lines():
    """Captures the access logger's records, rendered by the JSON formatter, as parsed objects."""
    formatter = JsonFormatter()
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    handler = Capture()
    logger = logging.getLogger("leadpulse.access")
    logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in lines]
    finally:
        logger.removeHandler(handler)


def test_a_request_writes_one_parseable_json_access_line(org, member, access_lines):
    user = member(role="admin")
    response = client_for(org, user).get("/api/me/", HTTP_X_REQUEST_ID="req-123")
    assert response.status_code == 200
    [line] = access_lines()
    assert line["request_id"] == "req-123"
    assert response["X-Request-ID"] == "req-123"
    assert line["organization"] == "acme"
    assert line["member_id"] == user.pk
    assert line["route"] == "api/me/"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "INFO" and line["logger"] == "leadpulse.access"
    assert line["timestamp"].endswith("+00:00")


def test_request_id_is_generated_when_missing_or_unsafe(public, access_lines):
    first = client_for(None).get("/healthz")
    second = client_for(None).get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    ids = [first["X-Request-ID"], second["X-Request-ID"]]
    assert all(len(value) == 32 for value in ids) and ids[0] != ids[1]
    assert [line["request_id"] for line in access_lines()] == ids


def test_root_domain_and_unknown_routes_are_logged(public, access_lines):
    client_for(None).get("/no/such/route/")
    [line] = access_lines()
    assert line["organization"] is None and line["member_id"] is None
    assert line["route"] == "unmatched" and line["status"] == 404


def test_answers_of_the_routing_middleware_are_logged_and_counted(public, access_lines):
    from shared_apps.observability import metrics

    counted = metrics.REQUESTS.labels(route="unmatched", method="GET", status="404")
    before = counted._value.get()
    response = client_for(None).get("/api/leads/", HTTP_HOST=f"nobody.{settings.BASE_DOMAIN}")
    assert response.status_code == 404 and response.json()["code"] == "organization_not_found"
    [line] = access_lines()
    assert line["status"] == 404 and line["organization"] is None and line["route"] == "unmatched"
    assert response["X-Request-ID"] == line["request_id"]
    assert counted._value.get() == before + 1


def test_other_log_lines_of_a_request_carry_its_id(org):
    seen: list[dict] = []

    def view(request):
        record = logging.LogRecord("app", logging.INFO, __file__, 1, "inside", (), None)
        seen.append(json.loads(JsonFormatter().format(record)))
        return JsonResponse({})

    request = RequestFactory().get("/x", HTTP_X_REQUEST_ID="abc")
    request.tenant = org
    RequestContextMiddleware(view)(request)
    assert seen[0]["request_id"] == "abc" and seen[0]["organization"] == "acme"
    assert "request_id" not in json.loads(
        JsonFormatter().format(logging.LogRecord("app", logging.INFO, __file__, 1, "after", (), None))
    )


def test_job_lines_carry_job_id_queue_and_schema(org, run_jobs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_in_organization(org.schema_name, _log_in_job)
    [ran] = run_jobs()
    assert ran.is_finished, ran.latest_result().exc_string
    line = json.loads(ran.return_value())
    assert line["job_id"] == ran.id
    assert line["queue"] == "default"
    assert line["schema"] == org.schema_name


def _log_in_job() -> str:
    record = logging.LogRecord("job", logging.INFO, __file__, 1, "in a job", (), None)
    JobContextFilter().filter(record)
    return JsonFormatter().format(record)


def test_log_format_env_picks_the_formatter():
    assert logging_config("json", "INFO")["handlers"]["console"]["formatter"] == "json"
    assert logging_config("plain", "INFO")["handlers"]["console"]["formatter"] == "plain"
    logging.config.dictConfig(logging_config("json", "WARNING"))  # the config itself is valid
    logging.config.dictConfig(settings.LOGGING)


def test_job_lines_name_the_organization_like_request_lines(org, db):
    """A job's lines carry the organization's slug (not only its schema), so one search by organization finds
    its requests and its jobs: from the job's meta, or found once per schema when the job starts."""
    import django_rq

    from shared_apps.observability import tracing

    tracing._slugs.clear()
    job = django_rq.get_queue("default").create_job(_log_in_job, meta={"schema_name": org.schema_name})
    with tracing.job_span(job):
        line = json.loads(job.perform())
    assert (line["organization"], line["schema"], line["job_id"]) == ("acme", org.schema_name, job.id)
    assert tracing._slugs == {org.schema_name: "acme"}

    given = django_rq.get_queue("default").create_job(
        _log_in_job, meta={"schema_name": org.schema_name, "organization": "named-at-enqueue"}
    )
    assert json.loads(given.perform())["organization"] == "named-at-enqueue"  # no lookup needed
    public_job = django_rq.get_queue("default").create_job(_log_in_job)
    with tracing.job_span(public_job):
        assert "organization" not in json.loads(public_job.perform())


def test_the_response_carries_the_servers_own_time_as_the_access_line_does(org, member, access_lines):
    response = client_for(org, member(role="admin")).get("/api/me/")
    [line] = access_lines()
    assert response["Server-Timing"] == f"app;dur={line['duration_ms']:.2f}"


def test_a_server_timing_the_view_set_is_kept():
    def view(request):
        response = JsonResponse({})
        response["Server-Timing"] = "db;dur=1.5"
        return response

    response = RequestContextMiddleware(view)(RequestFactory().get("/x"))
    first, second = response["Server-Timing"].split(", ")
    assert first == "db;dur=1.5" and second.startswith("app;dur=")
