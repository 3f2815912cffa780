"""rq entry points of the mail app (enqueued by the inbound receiver, shared_apps.mailroute.receiver)."""

from __future__ import annotations

from typing import Any

from tenant_apps.mail import services


def inbound_message_process(
    *, raw_name: str, routes: list[dict[str, Any]], mail_from: str = "", recipients: list[str] | None = None
) -> str:
    """Parse and record one received message in the organization's schema; returns its status."""
    message = services.inbound_message_process(
        raw_name=raw_name, routes=routes, mail_from=mail_from, recipients=recipients or []
    )
    return message.status if message is not None else "missing"
