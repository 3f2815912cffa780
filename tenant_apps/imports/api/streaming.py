"""An organization's CSV responses (shared_apps.http.streaming streams them under both servers): the body
is read after the middleware returned, so the rows are read inside organization_context, entered again by
the iterator.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any

from django.http import StreamingHttpResponse
from rest_framework.request import Request

from shared_apps.http.streaming import csv_stream
from shared_apps.organizations.context import Organization, current_organization, organization_context


def _in_organization(
    organization: Organization, produce: Callable[[], Iterator[bytes]]
) -> Generator[bytes, None, None]:
    with organization_context(organization):
        yield from produce()


def csv_response(
    request: Request, produce: Callable[[], Iterator[bytes]], filename: str
) -> StreamingHttpResponse:
    return csv_stream(request, _in_organization(current_organization(), produce), filename)


def file_chunks(path: Any, size: int = 256 * 1024) -> Callable[[], Iterator[bytes]]:
    def produce() -> Iterator[bytes]:
        with open(path, "rb") as handle:
            while chunk := handle.read(size):
                yield chunk

    return produce
