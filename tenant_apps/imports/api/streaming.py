"""CSV responses streamed with flat memory under both servers.

Django buffers a whole StreamingHttpResponse when the iterator's kind does not match the server (a sync
iterator under ASGI, an async one under WSGI), so the iterator is chosen per request. The organization's
schema lives on the connection, not on the request, and the body is read after the middleware returned:
the rows are read inside organization_context, entered again by the iterator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from shared_apps.organizations.context import Organization, current_organization, organization_context


class CSVRenderer(BaseRenderer):
    """Lets clients ask for text/csv; the CSV itself is streamed by the view (errors still render as
    JSON bodies)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        import json

        return b"" if data is None else json.dumps(data, default=str).encode()


def _in_organization(
    organization: Organization, produce: Callable[[], Iterator[bytes]]
) -> Generator[bytes, None, None]:
    with organization_context(organization):
        yield from produce()


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


def csv_response(
    request: Request, produce: Callable[[], Iterator[bytes]], filename: str
) -> StreamingHttpResponse:
    iterator = _in_organization(current_organization(), produce)
    content: Any = _async(iterator) if isinstance(request._request, ASGIRequest) else iterator
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


def file_chunks(path: Any, size: int = 256 * 1024) -> Callable[[], Iterator[bytes]]:
    def produce() -> Iterator[bytes]:
        with open(path, "rb") as handle:
            while chunk := handle.read(size):
                yield chunk

    return produce
