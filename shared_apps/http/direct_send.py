"""Expose an HTTP request's ASGI `send` in its scope, for a response that writes outside Django's loop.

Django's ASGI handler sends a streamed response's body chunk by chunk as its iterator yields, one task per
response. The live-update streams (tenant_apps.realtime) instead have their events written by the
process's one listener task while the stream's own task sleeps, which needs the response's `send`: this
middleware puts it under SEND_SCOPE_KEY, and Django's request keeps the scope (`request.scope`). Whoever
uses it writes only body messages, and only between the chunks Django sends (while the response's iterator
is suspended), so the two never interleave within a frame.
"""

from __future__ import annotations

from typing import Any

SEND_SCOPE_KEY = "leadpulse.send"


class ExposeSend:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, SEND_SCOPE_KEY: send}
        await self.app(scope, receive, send)


def expose_send(app: Any) -> ExposeSend:
    return ExposeSend(app)
