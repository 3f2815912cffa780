"""Admission control for the ASGI server: at most REQUEST_CONCURRENCY requests inside Django at once.

Django's ASGI handler runs each request's synchronous part (middleware, views) in a thread of its own, so
500 concurrent requests meant 500 threads, each wanting a database and a Redis connection: the pools bound
the connections, but 500 threads thrashing two cores made pooled connections come free too slowly, and
waits ran past the pools' timeouts. Here a request past the limit waits on the event loop, where waiting
costs nothing, in arrival order, and is let in when one of the REQUEST_CONCURRENCY requests in Django has
sent its response headers. So inside Django the pools rarely make anyone wait; a request that could not get in
within REQUEST_QUEUE_TIMEOUT seconds is answered 503 with Retry-After, without reaching Django.

A streamed response (SSE) gives its place back once its headers are sent: a stream holds no thread and no
connection while it waits for events, so the streams open do not count against the limit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from shared_apps.core.unavailable import retry_after, unavailable_body

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]


class AdmissionLimit:
    def __init__(self, app: ASGIApp, *, limit: int, timeout: float) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop = asyncio.Semaphore(self.limit), loop
        return self._semaphore

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0:
            await self.app(scope, receive, send)
            return
        semaphore = self.semaphore()
        try:
            await asyncio.wait_for(semaphore.acquire(), self.timeout)
        except TimeoutError:
            await _refuse(send)
            return
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                semaphore.release()

        async def send_and_release(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()  # Django's part is done (a stream's body comes from the event loop)
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            release()


async def _refuse(send: Send) -> None:
    body = json.dumps(unavailable_body("busy")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in retry_after().items()]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def limited(app: ASGIApp) -> ASGIApp:
    """`app` behind the limit the settings give (REQUEST_CONCURRENCY 0 = no limit)."""
    from django.conf import settings

    return AdmissionLimit(app, limit=settings.REQUEST_CONCURRENCY, timeout=settings.REQUEST_QUEUE_TIMEOUT)
