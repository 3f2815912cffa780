"""OpenTelemetry tracing, switched on by the standard OTEL_* environment variables, off (and never imported)
otherwise.

On when `OTEL_TRACES_EXPORTER` names exporters (`otlp`, `console`, comma-separated; `none` = off) or, without
it, when `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; `OTEL_SDK_DISABLED=true`
wins over both. The OTLP exporter speaks http/protobuf and reads its own variables (endpoint, headers,
timeout, compression); the sampler reads `OTEL_TRACES_SAMPLER[_ARG]`, the batch processor `OTEL_BSP_*`;
`OTEL_SERVICE_NAME` defaults to "leadpulse", `OTEL_RESOURCE_ATTRIBUTES` adds to the resource.

`setup()` runs once per process from ObservabilityConfig.ready(), which every process runs (web under
WSGI or ASGI, `manage.py rqworker` and its forked work horses, `rqcron`, management commands). It instruments
Django (a server span per request), psycopg (a span per query) and redis, and names on the spans what the logs
name: the server span gets `leadpulse.organization` (slug), `leadpulse.schema`, `leadpulse.member` and
`leadpulse.request_id`; every span started inside a request or job gets the organization and request or job
id too. `job_span()` gives each rq job a span with its id, function, queue and organization.
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "leadpulse"
EXPORTERS = ("otlp", "console")
# DjangoInstrumentor puts its middleware first; ours replaces it (see TracingMiddleware).
OTEL_MIDDLEWARE = "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"
MIDDLEWARE = "shared_apps.observability.tracing.TracingMiddleware"

_provider: TracerProvider | None = None
# Attributes for every span started inside the current job (requests use the log context).
_job_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "leadpulse_trace_job", default=None
)


def exporter_names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The exporters the environment asks for; empty means tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named:
        return [name.strip() for name in named.split(",") if name.strip() and name.strip() != "none"]
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return ["otlp"]
    return []


def enabled() -> bool:
    return _provider is not None


def setup(
    environ: Mapping[str, str] = os.environ, *, exporter: SpanExporter | None = None, set_global: bool = True
) -> TracerProvider | None:
    """Install tracing if the environment (or a given exporter, for tests) asks for it; idempotent. Returns
    the provider, or None when tracing stays off: then nothing of OpenTelemetry is imported."""
    global _provider
    if _provider is not None:
        return _provider
    names = exporter_names(environ)
    if exporter is None and not names:
        return None

    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    service = environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(_context_span_processor())
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            logger.warning("OTEL_TRACES_EXPORTER: unknown exporter %r ignored (known: %s)", name, EXPORTERS)
    if set_global:
        trace.set_tracer_provider(provider)
    _instrument(provider)
    _provider = provider
    return provider


def _instrument(provider: TracerProvider) -> None:
    from django.conf import settings
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    DjangoInstrumentor().instrument(tracer_provider=provider, response_hook=_response_hook)
    middleware = list(settings.MIDDLEWARE)
    settings.MIDDLEWARE = [MIDDLEWARE if entry == OTEL_MIDDLEWARE else entry for entry in middleware]
    PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    RedisInstrumentor().instrument(tracer_provider=provider)


def teardown() -> None:
    """Undo setup() (for tests: the global provider, if set, stays; OpenTelemetry allows setting it once)."""
    global _provider
    if _provider is None:
        return
    from django.conf import settings
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    settings.MIDDLEWARE = [
        entry for entry in settings.MIDDLEWARE if entry not in (MIDDLEWARE, OTEL_MIDDLEWARE)
    ]
    DjangoInstrumentor().uninstrument()
    PsycopgInstrumentor().uninstrument()
    RedisInstrumentor().uninstrument()
    _provider.shutdown()
    _provider = None


def _response_hook(span: Any, request: Any, response: Any) -> None:
    """The server span learns who was served once the inner middleware and the view have run."""
    from shared_apps.observability.logging import REQUEST_ID_HEADER, member_id_of

    if not span.is_recording():
        return
    tenant = getattr(request, "tenant", None)
    span.set_attribute("leadpulse.schema", tenant.schema_name if tenant is not None else "public")
    if tenant is not None:
        span.set_attribute("leadpulse.organization", tenant.slug)
    member_id = member_id_of(request)
    if member_id is not None:
        span.set_attribute("leadpulse.member", member_id)
    request_id = response.get(REQUEST_ID_HEADER)
    if request_id:
        span.set_attribute("leadpulse.request_id", request_id)


def _context_span_processor() -> SpanProcessor:
    """A processor that copies the current request's (log context) or job's fields onto every span started
    within it, so a database or Redis span says which organization it worked for."""
    from opentelemetry.sdk.trace import SpanProcessor

    from shared_apps.observability.logging import log_context

    class ContextSpanProcessor(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            fields = _job_fields.get() or log_context()
            for key in ("organization", "request_id", "member_id", "job_id", "schema"):
                value = fields.get(key)
                if value is not None:
                    span.set_attribute(
                        "leadpulse.member" if key == "member_id" else f"leadpulse.{key}", value
                    )

    return ContextSpanProcessor()


# schema -> slug, per process: a schema is named after its organization's slug, so the pair never changes
_slugs: dict[str, str] = {}


def _organization_slug(schema: str | None) -> str | None:
    if not schema:
        return None
    if schema in _slugs:
        return _slugs[schema]
    try:
        from shared_apps.organizations.models import Organization

        slug = Organization.objects.filter(schema_name=schema).values_list("slug", flat=True).first()
    except Exception:  # naming the organization must never fail a job
        logger.debug("no organization for schema %s", schema, exc_info=True)
        return None
    if slug is not None:
        _slugs[schema] = slug
    return slug


@contextmanager
def job_span(job: Any) -> Iterator[None]:
    """Wrap an rq job's work (OrganizationJob.perform): its log lines get the organization's slug (from the
    meta, else looked up once per schema and process) and, with tracing on, it runs in a CONSUMER span: job
    id, function, queue, schema and organization; an exception is recorded and re-raised. Spans are flushed
    when the job ends: rq's work horse leaves with os._exit(), dropping what the batch processor holds."""
    meta = job.meta if job.meta is not None else {}
    schema = meta.get("schema_name")
    slug = meta.get("organization") or _organization_slug(schema)
    if slug is not None:
        meta["organization"] = slug  # in memory, for the job's log lines (JobContextFilter)
    provider = _provider
    if provider is None:
        yield
        return
    from opentelemetry.trace import SpanKind

    fields: dict[str, Any] = {"job_id": job.id, "schema": schema or "public", "organization": slug}
    attributes = {
        "messaging.system": "rq",
        "messaging.operation.type": "process",
        "messaging.destination.name": job.origin or "",
        "messaging.message.id": job.id,
        "code.function.name": job.func_name or "",
    }
    token = _job_fields.set(fields)
    try:
        tracer = provider.get_tracer("leadpulse.jobs")
        with tracer.start_as_current_span(
            f"rq {job.func_name}", kind=SpanKind.CONSUMER, attributes=attributes
        ):
            yield
    finally:
        _job_fields.reset(token)
        provider.force_flush(timeout_millis=5000)


def _otel_middleware_base() -> type:
    from opentelemetry.instrumentation.django.middleware.otel_middleware import _DjangoMiddleware

    return _DjangoMiddleware


@contextmanager
def _unchecked_host(request: Any) -> Iterator[None]:
    """OpenTelemetry's middleware builds the request's URL, which validates Host against ALLOWED_HOSTS
    before our routing middleware has accepted a custom domain or answered an unknown host with JSON; for
    the span, the raw Host header is what we want anyway."""
    previous = request.__dict__.get("get_host")
    request.get_host = request._get_raw_host
    try:
        yield
    finally:
        if previous is None:
            del request.get_host
        else:
            request.get_host = previous
        # build_absolute_uri() caches the scheme and host: later callers must get the checked one
        request.__dict__.pop("_current_scheme_host", None)


def __getattr__(name: str) -> Any:
    # TracingMiddleware subclasses OpenTelemetry's, which is imported only when tracing is on.
    if name == "TracingMiddleware":
        base = _otel_middleware_base()

        class TracingMiddleware(base):  # type: ignore[valid-type,misc]
            """OpenTelemetry's Django middleware, minus the Host check (see _unchecked_host)."""

            def process_request(self, request: Any) -> Any:
                with _unchecked_host(request):
                    return super().process_request(request)

            def process_view(self, request: Any, *args: Any, **kwargs: Any) -> Any:
                with _unchecked_host(request):
                    return super().process_view(request, *args, **kwargs)

            def process_exception(self, request: Any, exception: Exception) -> Any:
                with _unchecked_host(request):
                    return super().process_exception(request, exception)

            def process_response(self, request: Any, response: Any) -> Any:
                with _unchecked_host(request):
                    return super().process_response(request, response)

        globals()["TracingMiddleware"] = TracingMiddleware
        return TracingMiddleware
    raise AttributeError(name)
