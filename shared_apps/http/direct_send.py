"""Expose an HTTP request's ASGI `send` in its scope, for a response that writes outside Django's loop.

Django's ASGI handler sends a streamed response's body chunk by chunk as its iterator yields, one task per
response. The live-update streams (tenant_apps.realtime) instead have their events written by the
process's one listener task while the stream's own task sleeps, which needs the response's `send`: this
middleware (outermost, so it is the server's own) puts it under SEND_SCOPE_KEY, and Django's request keeps
the scope (`request.scope`). Whoever uses it writes only body chunks, and only between the chunks Django
sends (while the response's iterator is suspended), so the two never interleave within a frame.

`body_writer` turns it into a function that writes one chunk now or reports that it cannot without
waiting. Under uvicorn (the server `make up` and deploy/ run) it writes the chunk straight to the
connection's transport in HTTP/1.1 chunked framing, the bytes uvicorn itself would write: with 1,000
streams and 50 events a second, going through the server's `send` (a coroutine, h11's state machine, ≈20 µs
a chunk here) was most of the process's time. Anything else (another server, a response that is not
chunked) gets the generic way: the `send` coroutine stepped once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

SEND_SCOPE_KEY = "leadpulse.send"

Send = Callable[[dict[str, Any]], Awaitable[None]]
# Writes a body chunk at once; False when it could not without waiting (the client reads slowly), and then
# nothing was written.
BodyWriter = Callable[[bytes], bool]


class ExposeSend:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, SEND_SCOPE_KEY: send}
        await self.app(scope, receive, send)


def expose_send(app: Any) -> ExposeSend:
    return ExposeSend(app)


def body_writer(send: Send) -> BodyWriter:
    """A BodyWriter over `send`, for a response whose headers have been sent."""
    return _uvicorn_writer(send) or _stepping_writer(send)


def _uvicorn_writer(send: Send) -> BodyWriter | None:
    """Chunks written to the transport of uvicorn's request-response cycle (h11 or httptools), when its
    response is chunked; None for anything else. It checks what uvicorn's own `send` checks: a client
    gone (nothing to write), a full socket (write_paused: report it, write nothing)."""
    cycle: Any = getattr(send, "__self__", None)
    transport, flow = getattr(cycle, "transport", None), getattr(cycle, "flow", None)
    if transport is None or flow is None or not _chunked(cycle):
        return None

    def write(body: bytes) -> bool:
        if cycle.disconnected or cycle.response_complete or transport.is_closing():
            return True  # gone: the stream ends when Django's handler sees the disconnect
        if flow.write_paused:
            return False
        transport.write(b"%x\r\n%b\r\n" % (len(body), body))
        return True

    return write


def _chunked(cycle: Any) -> bool:
    if getattr(cycle, "chunked_encoding", None) is True:  # uvicorn's httptools protocol
        return True
    # uvicorn's h11 protocol: the body writer h11 chose when the headers went out (chunk framing is
    # stateless for it: it counts nothing, and ends the body with the last chunk when the response ends)
    return type(getattr(getattr(cycle, "conn", None), "_writer", None)).__name__ == "ChunkedWriter"


def _stepping_writer(send: Send) -> BodyWriter:
    """The `send` coroutine stepped once: it finishes in that step when the server takes the body into its
    buffer. If it would wait, it is closed unfinished (servers wait for the client before writing
    anything, as uvicorn does) and the write reported as not done."""

    def write(body: bytes) -> bool:
        sending = send({"type": "http.response.body", "body": body, "more_body": True})
        try:
            sending.send(None)  # type: ignore[attr-defined]
        except StopIteration:
            return True
        sending.close()  # type: ignore[attr-defined]
        return False

    return write
