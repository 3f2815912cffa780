"""Beyond capacity, never a 500: a database or Redis that cannot serve a request now is a 503 with
Retry-After and the usual error shape, `{"code": "service_unavailable", "details": {"reason": ...}}`.

"Cannot serve now": the server refused or dropped the connection, has too many clients, is starting up or
shutting down, or no pooled connection came free within DB_POOL_TIMEOUT / REDIS_POOL_TIMEOUT. Where it is
raised decides who answers: in a DRF view, the API's exception handler (shared_apps.core.errors); anywhere
else (the routing middleware's host lookup, sessions, a plain or async view), Django turns the exception
into a 500 below the middleware that raised it, and `ServiceUnavailableMiddleware`, near the top of the
stack, replaces that 500 with the 503 (with DEBUG too; handler500 answers the same without it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import psycopg
import redis
from django.conf import settings
from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from psycopg_pool import PoolTimeout

# SQLSTATEs of a server that will not take this session now: connection failures (class 08), too many
# clients, cannot connect now (starting up, shutting down, recovering), administrator or crash shutdown.
_UNAVAILABLE_SQLSTATES = {"53300", "57P01", "57P02", "57P03"}


def unavailable_reason(exc: BaseException | None) -> str | None:
    """ "database" or "redis" when `exc` (or what it wraps: Django re-raises psycopg's errors as its own)
    means the service cannot serve this request now, rather than that the request is wrong."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, PoolTimeout):
            return "database"
        if isinstance(exc, psycopg.OperationalError):
            state = exc.sqlstate
            # no SQLSTATE: libpq's own failure (refused, unreachable, the server closed the connection)
            if state is None or state.startswith("08") or state in _UNAVAILABLE_SQLSTATES:
                return "database"
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            return "redis"
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def unavailable_body(reason: str) -> dict[str, Any]:
    return {
        "code": "service_unavailable",
        "message": "The service is at capacity or its storage is unavailable; retry after the time given.",
        "details": {"reason": reason},
    }


def retry_after() -> dict[str, str]:
    return {"Retry-After": str(settings.SERVICE_UNAVAILABLE_RETRY_AFTER)}


def service_unavailable(reason: str) -> JsonResponse:
    return JsonResponse(unavailable_body(reason), status=503, headers=retry_after())


@receiver(got_request_exception)
def _note_unavailable(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """Sent by Django while it handles an uncaught exception (which sys.exc_info() still holds)."""
    reason = unavailable_reason(sys.exc_info()[1])
    if request is not None and reason is not None:
        request.unavailable_reason = reason  # type: ignore[attr-defined]


class ServiceUnavailableMiddleware:
    """The 500 Django made of an unavailable database or Redis below this middleware becomes a 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        reason = getattr(request, "unavailable_reason", None)
        if reason is not None and response.status_code == 500:
            return service_unavailable(reason)
        return response
