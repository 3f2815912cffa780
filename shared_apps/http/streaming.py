"""CSV written and streamed with flat memory under both servers, for any schema's rows.

Django buffers a whole StreamingHttpResponse when the iterator's kind does not match the server (a sync
iterator under ASGI, an async one under WSGI), so the iterator is chosen per request. The schema lives on the
connection, not on the request, and the body is read after the middleware returned: callers hand in an
iterator that enters its schema again (tenant_apps.imports.api.streaming for an organization's exports,
shared_apps.audit for the audit logs).
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator, Generator, Iterable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

# Cells a spreadsheet would run as a formula get a leading quote (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


class _Buffer:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> bytes:
        data = "".join(self.parts).encode()
        self.parts.clear()
        return data


def csv_chunks(
    header: list[str], batches: Iterable[list[tuple[Any, ...]]], *, bom: bool = False
) -> Iterator[bytes]:
    """The CSV bytes of a header and batches of rows (already escaped), one chunk per batch."""
    buffer = _Buffer()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if bom:
        buffer.write("\ufeff")
    writer.writerow(header)
    yield buffer.take()
    for batch in batches:
        writer.writerows(batch)
        yield buffer.take()


class CSVRenderer(BaseRenderer):
    """Lets clients ask for text/csv (`Accept` or `?format=csv`); the CSV itself is streamed by the view
    (errors still render as JSON bodies)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return b"" if data is None else json.dumps(data, default=str).encode()


async def _async(iterator: Generator[bytes, None, None]) -> AsyncIterator[bytes]:
    # one thread for every step: the generator's transaction and cursor live on that thread's connection
    step = sync_to_async(lambda: next(iterator, None), thread_sensitive=True)
    try:
        while True:
            chunk = await step()
            if chunk is None:
                return
            yield chunk
    finally:
        await sync_to_async(iterator.close, thread_sensitive=True)()


def csv_stream(
    request: HttpRequest | Request, iterator: Generator[bytes, None, None], filename: str
) -> StreamingHttpResponse:
    """A CSV download of `iterator`'s bytes (a generator that enters its schema itself)."""
    raw = request._request if isinstance(request, Request) else request
    content: Any = _async(iterator) if isinstance(raw, ASGIRequest) else iterator
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response
