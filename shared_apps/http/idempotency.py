"""`Idempotency-Key` on POST: a repeat with the same key and body gets the first response without a second
write; the same key with another body is 422; a repeat while the first is still running is 409.

Scoped per organization (the default cache's keys carry its id, never reused) and per caller (member or API
key), kept 24 hours. The claim is a Redis SET NX, so two concurrent requests cannot both run."""

from __future__ import annotations

import hashlib
import json
import tempfile
from typing import Any

from django.conf import settings
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


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
CHUNK = 1 << 20


def _form_hash(request: Request) -> str:
    """Multipart and form bodies, fingerprinted from what Django parsed (which streams files to disk and
    applies its field limits) rather than from request.body, which refuses anything over
    DATA_UPLOAD_MAX_MEMORY_SIZE: the fields, and each file's name and digest. Files are rewound after."""
    request.data  # noqa: B018  (parses: fields into request.POST, files into request.FILES)
    files: dict[str, list[tuple[str, int, str]]] = {}
    for name, uploads in sorted(request.FILES.lists()):
        for upload in uploads:
            digest = hashlib.sha256()
            for chunk in upload.chunks(CHUNK):
                digest.update(chunk)
            upload.seek(0)
            files.setdefault(name, []).append((upload.name or "", upload.size or 0, digest.hexdigest()))
    fields = sorted(request.POST.lists())
    return hashlib.sha256(json.dumps([fields, sorted(files.items())], default=str).encode()).hexdigest()


def _stream_hash(request: Request) -> str:
    """A body too big for request.body (a text/csv upload): hashed while it is copied to a spooled file
    (memory, then disk), which then stands in for the request's stream so the view reads the same bytes."""
    django_request = request._request
    spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
    digest = hashlib.sha256()
    while chunk := django_request.read(CHUNK):
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    django_request._stream = spool  # type: ignore[assignment]
    django_request._read_started = False  # type: ignore[attr-defined]
    return digest.hexdigest()


def _body_hash(request: Request) -> str:
    if request.content_type.startswith(FORM_TYPES):
        return _form_hash(request)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if limit is not None and length > limit:
        return _stream_hash(request)
    try:
        body = request._request.body
    except RawPostDataException:  # the stream was consumed already: hash what was parsed
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
