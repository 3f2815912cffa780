"""Structured logs: one JSON object per line, carrying who and what every line is about.

`RequestContextMiddleware` (right after the routing middleware) gives each request an id (the caller's
`X-Request-ID` when it is sane, else a new one; echoed in the response), puts it with the organization's
slug in a context variable that every log line of the request picks up, and writes one access line per
request with the member, route, status and duration. Inside rq jobs `JobContextFilter` adds the job's id,
queue, organization schema and slug. `LOG_FORMAT=json` selects `JsonFormatter`; plain text otherwise.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

access_log = logging.getLogger("leadpulse.access")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "leadpulse_log", default=None
)
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_META = "HTTP_X_REQUEST_ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Attributes of every LogRecord: anything else on a record came from `extra=` and is logged as a field.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def log_context() -> dict[str, Any]:
    """The fields of the current request (empty outside one)."""
    return dict(_context.get() or {})


def bind(**fields: Any) -> None:
    """Add fields to every later log line of the current request."""
    current = _context.get()
    if current is not None:
        current.update(fields)


def request_id_from(request: HttpRequest) -> str:
    # from META: `request.headers` would build a dict of every header (~25 µs) for this one
    given = request.META.get(_REQUEST_ID_META, "")
    return given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (`api/leads/<int:lead_id>/`): bounded, unlike the path."""
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "unmatched"


def member_id_of(request: HttpRequest) -> int | None:
    # DRF copies the user it authenticated onto the Django request; read it without forcing a lookup.
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None  # the session was never read: asking now would cost a query per request
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "pk", None)


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from shared_apps.observability import metrics  # metrics imports this module's helpers
        from shared_apps.organizations import usage  # organizations imports observability (log context)

        start = time.perf_counter()
        tenant = getattr(request, "tenant", None)
        fields: dict[str, Any] = {
            "request_id": request_id_from(request),
            "organization": tenant.slug if tenant is not None else None,
        }
        token = _context.set(fields)
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - start
            route = route_of(request)
            tenant = getattr(request, "tenant", None)  # set by the routing middleware, which runs after this
            fields.update(
                route=route,
                member_id=member_id_of(request),
                organization=tenant.slug if tenant is not None else None,
            )
            response[REQUEST_ID_HEADER] = fields["request_id"]
            # the server's own time for the request (to its response, before the body is sent), which
            # browsers' developer tools and the benches read apart from the network's
            duration_ms = round(duration * 1000, 2)
            timing = f"app;dur={duration_ms:.2f}"
            existing = response.get("Server-Timing")
            response["Server-Timing"] = f"{existing}, {timing}" if existing else timing
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                },
            )
            metrics.observe_request(
                route=route, method=request.method or "", status=response.status_code, seconds=duration
            )
            if tenant is not None and isinstance(getattr(tenant, "pk", None), int):
                usage.count_request(tenant.pk, response.status_code)  # per organization and day, for usage
            return response
        finally:
            _context.reset(token)


class JobContextFilter(logging.Filter):
    """Adds the running rq job's id, queue and organization schema to records logged inside it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            from rq import get_current_job

            job = get_current_job()
        except Exception:  # outside a worker, or no Redis connection bound: nothing to add
            job = None
        if job is not None:
            record.job_id = job.id
            record.queue = job.origin
            record.schema = job.meta.get("schema_name")
            # the slug, as on request lines: recorded at enqueue, or found when the job started
            # (shared_apps.observability.tracing.job_span); never looked up here, inside a logging call
            organization = job.meta.get("organization")
            if organization is not None:
                record.organization = organization
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, the request's fields, `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(log_context())
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING setting: JSON or plain lines on stderr, with request and job context on both."""
    plain = "%(asctime)s %(levelname)s %(name)s %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"job": {"()": "shared_apps.observability.logging.JobContextFilter"}},
        "formatters": {
            "json": {"()": "shared_apps.observability.logging.JsonFormatter"},
            "plain": {"format": plain},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if log_format == "json" else "plain",
                "filters": ["job"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"rq.worker": {"level": "INFO"}, "leadpulse.access": {"level": "INFO"}},
    }
