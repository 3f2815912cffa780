"""rq entry points of the mail app (enqueued by the inbound receiver, shared_apps.mailroute.receiver)."""

from __future__ import annotations

import logging
from typing import Any

from tenant_apps.mail import services

logger = logging.getLogger(__name__)


class InboundBatchIncomplete(Exception):
    """Some messages of a batch failed; the retry processes them (the others are recognized as done)."""


def inbound_messages_process(*, messages: list[dict[str, Any]]) -> list[str]:
    """Parse and record received messages in the organization's schema, each on its own (one failing does
    not keep the others from being recorded); returns their statuses. Safe to run again: a message already
    processed is recognized by its Message-ID."""
    statuses, failed = [], 0
    for message in messages:
        try:
            processed = services.inbound_message_process(
                raw_name=message["raw_name"],
                routes=message.get("routes") or [],
                mail_from=message.get("mail_from") or "",
                recipients=message.get("recipients") or [],
            )
        except Exception:
            logger.exception("inbound: processing %s failed", message.get("raw_name"))
            failed += 1
            statuses.append("failed")
            continue
        statuses.append(processed.status if processed is not None else "missing")
    if failed:
        raise InboundBatchIncomplete(f"{failed} of {len(messages)} messages failed: {statuses}")
    return statuses
