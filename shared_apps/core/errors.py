"""One tree of application errors and one renderer, so every failure has the same JSON shape.

Body: {"code": <stable machine code>, "message": <human text>, "details": {...}} and, for validation
failures, "errors": {field: [messages]} naming each offending field, flat however deep it sits: `tags[1]`,
`fields.name`, `contacts[1].email` (see _validation_body).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.settings import api_settings

from shared_apps.core.unavailable import (
    retry_after,
    service_unavailable,
    unavailable_body,
    unavailable_reason,
)


class AppError(Exception):
    """Base of every domain error: a stable code, an HTTP status and extra data for clients."""

    status_code = 400
    code = "error"
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None, **details: Any) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        super().__init__(self.message)

    def as_body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(AppError):
    """Input that fails a domain rule; `field` names what to fix."""

    code = "invalid"

    def __init__(self, field: str, message: str, *, code: str = "invalid", **details: Any) -> None:
        super().__init__(message, code=code, **details)
        self.field = field

    def as_body(self) -> dict[str, Any]:
        return {**super().as_body(), "errors": {self.field: [self.message]}}


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You do not have permission to perform this action."


def _field_errors(detail: Any, path: str, into: dict[str, list[str]]) -> None:
    """Collect DRF's nested error detail under flat field names: a list item's index as `tags[1]`, an
    object's key as `address.city` or `custom.<key>`, a nested `non_field_errors` as the object itself."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY:
                _field_errors(value, path, into)
            elif isinstance(key, int):  # a ListField's children report by index (a DictField's by key)
                _field_errors(value, f"{path}[{key}]", into)
            else:
                _field_errors(value, f"{path}.{key}" if path else str(key), into)
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, dict | list):  # a nested list serializer: one entry per item, {} when valid
                _field_errors(item, f"{path}[{index}]", into)
            else:
                _field_errors(item, path, into)
    else:
        into.setdefault(path or api_settings.NON_FIELD_ERRORS_KEY, []).append(str(detail))


def _validation_body(errors: Any) -> dict[str, Any]:
    """A 400 body whose `errors` is {field: [messages]} whatever the nesting of DRF's detail (the documented
    ErrorSerializer shape): one flat name per offending place, as sequences name `steps[0].subject`."""
    flat: dict[str, list[str]] = {}
    _field_errors(errors, "", flat)
    return {"code": "invalid", "message": "Invalid input.", "details": {}, "errors": flat}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler rendering every error in the shape described above."""
    # imported here: rest_framework.views loads the authentication classes, which import this module
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, AppError):
        return Response(exc.as_body(), status=exc.status_code)
    if (reason := unavailable_reason(exc)) is not None:
        return Response(unavailable_body(reason), status=503, headers=retry_after())
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return Response(_validation_body(errors), status=400)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, drf.APIException):
        return response
    if isinstance(exc, drf.ValidationError):
        response.data = _validation_body(exc.detail)
    else:
        codes = exc.get_codes()
        response.data = {
            "code": codes if isinstance(codes, str) else exc.default_code,
            "message": str(exc.detail) if not isinstance(exc.detail, dict | list) else exc.default_detail,
            "details": {},
        }
    return response


def json_error(status: int, code: str, message: str, **details: Any) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "details": details}, status=status)


def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """What Django refuses before a view answers (a body over its limits, too many fields, a suspicious
    request): the same JSON shape as every other error, not Django's HTML page."""
    return json_error(400, "bad_request", "The request could not be read.")


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(404, "not_found", "No such route.", path=request.path)


def server_error_view(request: HttpRequest) -> JsonResponse:
    """Django's handler500, called while the uncaught exception is being handled (in a middleware, a plain
    view, a DRF view's error that DRF re-raised): a database or Redis that cannot serve now is a 503."""
    if (reason := unavailable_reason(sys.exc_info()[1])) is not None:
        return service_unavailable(reason)
    return json_error(500, "server_error", "Internal server error.")


class PreconditionFailed(AppError):
    status_code = 412
    code = "precondition_failed"
    message = "The record changed since you read it (If-Match does not match its ETag); read it again."


def etag_of(updated_at: Any) -> str:
    """A record's version for optimistic concurrency: its last update, to the microsecond."""
    return f'"{int(updated_at.timestamp() * 1_000_000):x}"'


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match header names `etag` (or is "*"); weak tags compare as strong."""
    given = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in given or etag in given


def check_if_match(if_match: str | None, updated_at: Any) -> None:
    """Refuse a write based on a stale read: If-Match must name the record's current ETag (or be "*")."""
    if if_match is None:
        return
    current = etag_of(updated_at)
    if not etag_matches(if_match, current):
        raise PreconditionFailed(current_etag=current)


class ApiErrorsAsJsonMiddleware:
    """Under /api/ every error answers the JSON shape above, whatever produced it: Django's HTML pages for an
    unknown route or an unhandled exception (with DEBUG on, its technical pages, which list the routes and the
    settings), a bare 405, a CSRF failure. Other paths (the web pages) are left to their own templates."""

    KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith("/api/")
            or not response.get("Content-Type", "").startswith("text/html")  # JSON already, or a CSV error
            or getattr(response, "streaming", False)
        ):
            return response
        if response.status_code == 404:
            replacement = not_found_view(request)
        elif response.status_code >= 500:
            replacement = server_error_view(request)
        else:
            code = re.sub(r"[^a-z0-9]+", "_", response.reason_phrase.lower()).strip("_") or "error"
            replacement = json_error(response.status_code, code, response.reason_phrase + ".")
        for header in self.KEPT_HEADERS:
            if response.has_header(header):
                replacement[header] = response[header]
        return replacement
