"""The inbound SMTP receiver (aiosmtpd): accepts mail for live organizations' addresses only, stores each
message as it arrived and hands it to a job in the organization's schema.

- RCPT TO an address no live organization owns: 550, decided from the public schema alone.
- Messages over INBOUND_MAX_BYTES: 552 (aiosmtpd's data_size_limit, announced in EHLO as SIZE).
- DATA: the raw bytes go to the "mail" storage under the organization's id (a copy per organization when
  one message names several), then to that organization's pending list in Redis, whose drain job
  (`tenant_apps.mail.jobs.inbound_messages_drain`, queued unless one is waiting) processes what waits
  together (shared_apps.mailroute.pending). Only then does the client hear 250: a storage or Redis failure
  answers 451 and the sending server tries again later, so nothing accepted is lost.

RCPT lookups run in Django's one sync thread (asgiref's sync_to_async) with a short cache; storing and
enqueueing (no database) in a thread pool, so several sessions' DATA proceed at once; none on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import close_old_connections
from django.utils import timezone

from shared_apps.core.db import connection
from shared_apps.mailroute import pending
from shared_apps.mailroute.addresses import Route, resolve
from shared_apps.organizations.models import Organization

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 50
# No timer by default: messages stored while a hand-over to Redis is under way go together in the next
# (Batcher); a window > 0 makes each hand-over wait that long (or for BATCH_SIZE messages) to gather more.
BATCH_WINDOW = 0.0
BATCH_SIZE = 50


def raw_name(organization_id: int) -> str:
    """Where a raw message of the organization is kept in the "mail" storage."""
    day = timezone.now().strftime("%Y/%m/%d")
    return f"{organization_id}/inbound/{day}/{uuid.uuid4().hex}.eml"


# Recipients resolved lately, known and unknown alike (a flood of guesses costs no query each): a suspended
# or deleted organization stops receiving within ROUTE_TTL seconds.
ROUTE_TTL = 30.0
ROUTE_CACHE_SIZE = 10_000
_routes: dict[str, tuple[float, Route | None]] = {}


_UNKNOWN: Any = object()


def _cached_route(address: str) -> Any:
    """The route resolved lately for `address` (None: no such mailbox), or _UNKNOWN. No database: it runs on
    the event loop, sparing a known recipient the hop to the sync thread."""
    cached = _routes.get(address.strip().lower())
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    return _UNKNOWN


def _resolve(address: str) -> Route | None:
    key = address.strip().lower()
    now = time.monotonic()
    cached = _routes.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    if not connection.in_atomic_block:  # a long-lived process: drop connections the database closed
        close_old_connections()
    route = resolve(address)
    if len(_routes) >= ROUTE_CACHE_SIZE:
        _routes.clear()
    _routes[key] = (now + ROUTE_TTL, route)
    return route


@dataclass
class Stored:
    """One organization's copy of a received message, stored and waiting for its job."""

    organization: Organization
    raw_name: str
    routes: list[dict[str, Any]]
    recipients: list[str]
    mail_from: str

    def as_job_data(self) -> dict[str, Any]:
        return {
            "raw_name": self.raw_name,
            "routes": self.routes,
            "recipients": self.recipients,
            "mail_from": self.mail_from,
        }


def store(*, content: bytes, routes: list[tuple[str, Route]], mail_from: str) -> list[Stored]:
    """Store the message once per organization it is for, with that organization's own recipients only
    (another's address on the same message is none of its business). Touches no database (the routes carry
    their organizations), so it runs in any thread, several messages at once."""
    by_organization: dict[int, list[tuple[str, Route]]] = {}
    for address, route in routes:
        by_organization.setdefault(int(route.organization.pk), []).append((address, route))
    storage = storages["mail"]
    stored = []
    for organization_routes in by_organization.values():
        organization = organization_routes[0][1].organization
        stored.append(
            Stored(
                organization=organization,
                raw_name=storage.save(raw_name(int(organization.pk)), ContentFile(content)),
                routes=[route.as_job_data() for _address, route in organization_routes],
                recipients=[address for address, _route in organization_routes],
                mail_from=mail_from[:254],
            )
        )
    return stored


def enqueue(batch: list[Stored]) -> None:
    """Hand the messages of a batch to their organizations' drain jobs (shared_apps.mailroute.pending): each
    job processes whatever waits for its organization, together."""
    by_organization: dict[int, list[Stored]] = {}
    for item in batch:
        by_organization.setdefault(int(item.organization.pk), []).append(item)
    for items in by_organization.values():
        pending.submit(items[0].organization, [item.as_job_data() for item in items])


class Batcher:
    """Gathers stored messages into one hand-over per organization (one Redis round trip for many messages).
    With no window (the default) a hand-over starts at once when none is under way, and the messages stored
    meanwhile go together in the next one as soon as it ends: no message waits for a timer, and a burst
    still goes in few round trips. With a window, a hand-over waits up to `window` seconds (or `size`
    messages) to gather more. Each session's 250 waits until its message is on its organization's pending
    list with a drain job queued, so nothing accepted is left without one."""

    def __init__(self, window: float = BATCH_WINDOW, size: int = BATCH_SIZE) -> None:
        self.window, self.size = window, size
        self.pending: list[tuple[list[Stored], asyncio.Future[None]]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.under_way = False

    async def submit(self, stored: list[Stored]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((stored, future))
        if self.window <= 0 or sum(len(items) for items, _ in self.pending) >= self.size:
            self._flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.window, self._flush)
        await future

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.under_way:
            return  # the hand-over under way starts the next one when it ends
        batch, self.pending = self.pending, []
        if batch:
            self.under_way = True
            asyncio.get_running_loop().create_task(self._enqueue(batch))

    async def _enqueue(self, batch: list[tuple[list[Stored], asyncio.Future[None]]]) -> None:
        try:
            items = [item for stored, _ in batch for item in stored]
            await sync_to_async(enqueue, thread_sensitive=False)(items)
        except Exception as error:
            for _, future in batch:
                future.set_exception(error)
        else:
            for _, future in batch:
                future.set_result(None)
        finally:
            self.under_way = False
            if self.pending and (self.window <= 0 or self.timer is None):
                self._flush()


class InboundHandler:
    """aiosmtpd handler: RCPT decides by address, DATA stores and enqueues."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        try:
            route = _cached_route(address)
            if route is _UNKNOWN:  # not resolved lately: ask the database, in Django's sync thread
                route = await sync_to_async(_resolve)(address)
        except Exception:
            logger.exception("inbound: resolving a recipient failed")
            return "451 4.3.0 Temporary failure, try again later"
        if route is None:
            return "550 5.1.1 No such mailbox here"
        if not hasattr(envelope, "leadpulse_routes"):
            envelope.leadpulse_routes = []
        envelope.leadpulse_routes.append((address, route))
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    def __init__(self) -> None:
        self.batcher: Batcher | None = None  # made on the server's event loop, at the first message

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        routes: list[tuple[str, Route]] = getattr(envelope, "leadpulse_routes", [])
        if not routes:
            return "554 5.5.1 No valid recipients"
        content = envelope.original_content or envelope.content
        if isinstance(content, str):  # decode_data=True was not asked for; kept for safety
            content = content.encode("utf-8", "surrogateescape")
        if self.batcher is None:
            self.batcher = Batcher()
        try:
            stored = await sync_to_async(store, thread_sensitive=False)(
                content=bytes(content), routes=routes, mail_from=str(envelope.mail_from or "")
            )
            await self.batcher.submit(stored)
        except Exception:
            logger.exception("inbound: storing or enqueueing a message failed")
            return "451 4.3.0 Temporary failure, try again later"
        return "250 2.0.0 Message accepted"
