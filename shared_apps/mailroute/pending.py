"""Received messages waiting for their organization's drain job, in Redis (beside rq's own queues).

The receiver appends each stored message to its organization's pending list and queues a drain job
(tenant_apps.mail.jobs.inbound_messages_drain) unless one is queued and not started yet; that job takes the
waiting messages DRAIN_BATCH at a time and processes each batch together. So the batch a job processes is
whatever arrived meanwhile: a few messages when mail trickles in, DRAIN_BATCH under a burst, when doing
them together pays off most.

Nothing taken is lost: a job moves a batch atomically (one script) from the pending list to a list of its
own (named after the rq job), and removes that list only once the batch is processed. A job that fails, or
whose worker dies, is run again under the same id (its Retry, or shared_apps.core.worker's re-enqueue of
abandoned jobs) and starts with what its own list still holds. Processing is idempotent (Message-IDs), so
a batch processed twice records nothing twice.

No message waits without a job: a drain job clears its organization's "queued" marker as it starts, before
it takes anything, and takes until the pending list is empty; the receiver appends first and then queues a
job whenever no marker is set. A marker whose job was never queued (the receiver died in between) expires
after QUEUED_TTL seconds; then the next message, or else `resume` (every minute, config/cron.py), queues one.
"""

from __future__ import annotations

import json
from typing import Any

import django_rq
from redis import Redis
from rq import Retry

from shared_apps.organizations.jobs import enqueue_in_organization
from shared_apps.organizations.models import Organization

DRAIN_JOB = "tenant_apps.mail.jobs.inbound_messages_drain"
DRAIN_BATCH = 100
QUEUED_TTL = 120
_TAKE = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  redis.call('RPUSH', KEYS[2], unpack(items))
end
return items
"""


def _redis() -> Redis:
    return django_rq.get_connection("default")


def _pending_key(schema: str) -> str:
    return f"lp:inbound:pending:{schema}"


def _queued_key(schema: str) -> str:
    return f"lp:inbound:queued:{schema}"


def _taken_key(schema: str, owner: str) -> str:
    return f"lp:inbound:taken:{schema}:{owner}"


def submit(organization: Organization | str, messages: list[dict[str, Any]]) -> None:
    """Add messages to the organization's (a row or its schema name) pending list and queue its drain job
    unless one is queued already. Raises when either fails (the receiver then answers 451: try later)."""
    schema = organization if isinstance(organization, str) else organization.schema_name
    client = _redis()
    if messages:
        client.rpush(_pending_key(schema), *(json.dumps(message) for message in messages))
    if not client.set(_queued_key(schema), "1", nx=True, ex=QUEUED_TTL):
        return  # a job is queued and has not started: it takes these
    try:
        enqueue_in_organization(organization, DRAIN_JOB, retry=Retry(max=3, interval=[10, 60, 300]))
    except Exception:
        client.delete(_queued_key(schema))  # the next message tries again
        raise


def hand_over(schema: str) -> None:
    """A drain job that ran its time: a new job takes what still waits."""
    if waiting(schema):
        submit(schema, [])


def starting(schema: str) -> None:
    """A drain job starts: messages appended from now on queue another one."""
    _redis().delete(_queued_key(schema))


def taken(schema: str, owner: str) -> list[dict[str, Any]]:
    """What `owner` (a drain job's id) took and has not finished: left by a failed or interrupted run."""
    return [json.loads(item) for item in _redis().lrange(_taken_key(schema, owner), 0, -1)]


def take(schema: str, owner: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Move up to `limit` (DRAIN_BATCH) pending messages, oldest first, to `owner`'s list, atomically;
    returns them."""
    limit = limit or DRAIN_BATCH
    items = _redis().eval(_TAKE, 2, _pending_key(schema), _taken_key(schema, owner), limit)
    return [json.loads(item) for item in items]


def done(schema: str, owner: str) -> None:
    """`owner` finished what it took."""
    _redis().delete(_taken_key(schema, owner))


def waiting(schema: str) -> int:
    return int(_redis().llen(_pending_key(schema)))


def resume(schema: str) -> bool:
    """Queue a drain job when the organization's messages wait with none queued (the receiver died between
    appending and queuing); True when it did. Every minute (tenant_apps.mail.jobs.inbound_messages_sweep)."""
    client = _redis()
    if not client.llen(_pending_key(schema)) or client.exists(_queued_key(schema)):
        return False
    submit(schema, [])
    return True
