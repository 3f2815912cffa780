"""rq entry points of the mail app (enqueued by the inbound receiver, shared_apps.mailroute.receiver)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from rq import get_current_job

from shared_apps.core.db import connection
from shared_apps.mailroute import pending
from tenant_apps.mail.batch import FAILED, Delivery, inbound_batch_process


class InboundBatchIncomplete(Exception):
    """Some messages of a batch failed; the retry processes them (the others are recognized as done)."""


def inbound_messages_process(*, messages: list[dict[str, Any]]) -> list[str]:
    """Parse and record received messages in the organization's schema, together (tenant_apps.mail.batch:
    a fixed number of queries per batch; one failing message does not keep the others from being
    recorded); returns their statuses. Safe to run again: a message already processed is recognized by its
    Message-ID."""
    statuses = inbound_batch_process(
        deliveries=[
            Delivery(
                raw_name=message["raw_name"],
                routes=message.get("routes") or [],
                mail_from=message.get("mail_from") or "",
                recipients=message.get("recipients") or [],
            )
            for message in messages
        ]
    )
    failed = statuses.count(FAILED)
    if failed:
        raise InboundBatchIncomplete(f"{failed} of {len(messages)} messages failed: {statuses}")
    return statuses


# A drain job hands over to a new one after this long, so no job runs near its timeout under a steady flow.
DRAIN_SECONDS = 60


def inbound_messages_drain() -> dict[str, int]:
    """Process the organization's received messages waiting in Redis (shared_apps.mailroute.pending), a
    batch at a time (tenant_apps.mail.batch), until none waits; first what an earlier run of this job took
    and did not finish. A batch with a failed message stops the job with InboundBatchIncomplete, its batch
    kept for the retry (which processes it again: what was done is recognized by its Message-ID)."""
    schema = connection.schema_name
    job = get_current_job()
    owner = job.id if job is not None else uuid.uuid4().hex
    pending.starting(schema)
    totals: dict[str, int] = {}
    deadline = time.monotonic() + DRAIN_SECONDS
    batch = pending.taken(schema, owner)
    while True:  # at least one batch, however late the job starts
        batch = batch or pending.take(schema, owner)
        if not batch:
            return totals
        statuses = inbound_messages_process(messages=batch)
        pending.done(schema, owner)
        for status in statuses:
            totals[status] = totals.get(status, 0) + 1
        batch = []
        if time.monotonic() >= deadline:
            pending.hand_over(schema)
            return totals


def inbound_messages_sweep() -> bool:
    """Every minute (config/cron.py): a drain job for received messages left waiting without one (the
    receiver died between storing them and queuing it). Safe to run twice."""
    return pending.resume(connection.schema_name)


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
