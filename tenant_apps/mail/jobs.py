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


def imap_mailboxes_sync() -> dict[str, int]:
    """Every few minutes (config/cron.py, fanned out per organization): sync each connected IMAP mailbox
    (tenant_apps.mail.imap); one failing keeps no other from syncing. Safe to run twice."""
    from tenant_apps.mail import imap
    from tenant_apps.mail.models import ImapMailbox

    totals = {"mailboxes": 0, "synced": 0, "failed": 0}
    for mailbox_id in ImapMailbox.objects.filter(enabled=True).order_by("pk").values_list("pk", flat=True):
        outcome = imap.imap_mailbox_sync(mailbox_id=mailbox_id)
        totals["mailboxes"] += 1
        totals["synced"] += int(outcome["synced"])
        totals["failed"] += 1 if outcome["error"] else 0
    return totals
