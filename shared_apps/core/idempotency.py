"""`Idempotency-Key` on POST: a repeat with the same key and body gets the first response without a second
write; the same key with another body is 422; a repeat while the first is still running is 409.

Scoped per organization (the default cache's keys carry the schema) and per caller (member or API key), kept
24 hours. The claim is a Redis SET NX, so two concurrent requests cannot both run."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.cache import cache
from django.http.request import RawPostDataException
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.core.errors import AppError, Conflict, InvalidInput
from shared_apps.users.models import ApiKey

TTL = 24 * 3600
IN_FLIGHT_TTL = 120


class IdempotencyMismatch(AppError):
    status_code = 422
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with a different request body."


def _caller(request: Request) -> str:
    return f"key{request.auth.pk}" if isinstance(request.auth, ApiKey) else f"member{request.user.pk}"


def _body_hash(request: Request) -> str:
    try:
        body = request._request.body
    except RawPostDataException:  # the stream was consumed (multipart): hash what was parsed
        body = json.dumps(request.data, sort_keys=True, default=str).encode()
    return hashlib.sha256(body).hexdigest()


def claim(request: Request) -> tuple[str, str] | Response | None:
    """None when the request carries no key; the stored Response for a repeat; else (cache key, body hash)
    after claiming the key for this request."""
    raw = request.headers.get("Idempotency-Key")
    if request.method != "POST" or raw is None:
        return None
    if not raw or len(raw) > 200 or not raw.isprintable():
        raise InvalidInput("Idempotency-Key", "1 to 200 printable characters.")
    key = "idem:" + hashlib.sha256(f"{_caller(request)}|{request.path}|{raw}".encode()).hexdigest()
    body_hash = _body_hash(request)
    if cache.add(key, {"state": "in_flight", "body": body_hash}, IN_FLIGHT_TTL):
        return key, body_hash
    stored = cache.get(key)
    if stored is None:  # expired between add and get: treat as new
        cache.set(key, {"state": "in_flight", "body": body_hash}, IN_FLIGHT_TTL)
        return key, body_hash
    if stored["body"] != body_hash:
        raise IdempotencyMismatch()
    if stored["state"] == "in_flight":
        raise Conflict(
            "A request with this Idempotency-Key is still being processed.", code="idempotency_in_flight"
        )
    response = Response(stored["data"], status=stored["status"])
    response["Idempotent-Replayed"] = "true"
    return response


def remember(claimed: tuple[str, str], response: Any, *, secret_fields: tuple[str, ...] = ()) -> None:
    """Keep the response for replays, without the fields shown only once (a replay says they are withheld:
    24 hours of secrets in Redis would outlive their single showing)."""
    key, body_hash = claimed
    if response.status_code >= 500:
        cache.delete(key)  # a failure is not an answer: let the client retry
        return
    data = getattr(response, "data", None)
    if secret_fields and isinstance(data, dict):
        data = {**data, **{field: None for field in secret_fields if field in data}, "secret_withheld": True}
    try:
        json.dumps(data, default=str)
    except (TypeError, ValueError):
        cache.delete(key)
        return
    cache.set(
        key,
        {
            "state": "done",
            "body": body_hash,
            "status": response.status_code,
            "data": json.loads(json.dumps(data, default=str)),
        },
        TTL,
    )
