"""One LISTEN connection per process, fanning the committed events out to this process's streams.

The first stream starts it (lazily, in the server's event loop). It is one asyncio task holding one async
psycopg connection (application_name `leadpulse-realtime-listener`) that LISTENs on `leadpulse_events`.
A notification carries "<schema>:<id>" only; for the schemas that have streams here, the task reads the new
rows of the event log once, on that same connection, and fans them out in the event loop (no thread per
stream): the streams of a schema are grouped by who they are for (selectors.Viewer: member, role, whether
they see every lead), so which events a member may see is decided, and their frames joined into one body,
once per (batch, member), not once per stream; each stream's inbox then gets that one `Delivery`.
Streams of other organizations never see them: subscriptions are keyed by schema.

It also LISTENs on `leadpulse_revoked` ("<schema>:<member id>", sent when a member is deactivated or one of
their tokens revoked): the streams of that schema get a `Revoked` item, and the member's own streams check
their credentials again (views.py), ending at once if they no longer hold.

If the connection fails, the task reconnects (with backoff) and tells every stream to catch up from the log
(RESYNC): notifications sent while nobody listened are lost, the rows are not.
"""

from __future__ import annotations

import asyncio
import enum
import gc
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql

from tenant_apps.realtime import conf
from tenant_apps.realtime.events import HEARTBEAT, StreamEvent
from tenant_apps.realtime.models import CHANNEL, REVOKED_CHANNEL, EventLog
from tenant_apps.realtime.selectors import Viewer, visible_to

logger = logging.getLogger(__name__)

APPLICATION_NAME = "leadpulse-realtime-listener"
# an idle connection is probed this often, so a silently dead one is noticed
KEEPALIVE_SECONDS = 30.0
FETCH_CHUNK = 500
# OPTIONS keys that are Django's, not libpq's
_DJANGO_OPTIONS = {
    "isolation_level",
    "server_side_binding",
    "pool",
    "assume_role",
    "cursor_factory",
    "context",
}


class Signal(enum.Enum):
    HEARTBEAT = "heartbeat"
    # the listener reconnected: events may have been missed, read them from the log
    RESYNC = "resync"


@dataclass(frozen=True, slots=True)
class Skipped:
    """More events than REALTIME_QUEUE_LIMIT were waiting for this stream (a slow client, or one huge
    transaction): they were dropped up to `last_id`, and the client is told to reload (`reset`)."""

    last_id: int


@dataclass(frozen=True, slots=True)
class Revoked:
    """A credential of member `member_id` was revoked, or the member deactivated."""

    member_id: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """One batch of committed events as one member sees them, shared by all of that member's streams:
    `events` are those visible to them and `body` their frames joined; `first_id`..`last_id` span the whole
    batch, the hidden events too (they move the stream's position all the same)."""

    events: tuple[StreamEvent, ...]
    first_id: int
    last_id: int
    body: bytes

    @classmethod
    def of(cls, events: list[StreamEvent], viewer: Viewer | None) -> Delivery:
        visible = tuple(event for event in events if viewer is None or visible_to(viewer, event))
        return cls(visible, events[0].id, events[-1].id, b"".join(event.frame for event in visible))


Item = StreamEvent | Delivery | Signal | Skipped | Revoked


def _last_id(item: Item) -> int:
    if isinstance(item, StreamEvent):
        return item.id
    if isinstance(item, Delivery | Skipped):
        return item.last_id
    return 0


# Writes a body to a stream's client at once; False when it could not without waiting (the client reads
# slowly): nothing was written then. See views.direct_writer.
Writer = Callable[[bytes], bool]


class Subscription:
    """One stream's inbox: events and signals in arrival order, taken in batches.

    While its stream waits with nothing to do, a `writer` may be attached (`go_direct`): the listener then
    writes each delivery that follows the stream's position straight to the client from its own task, and
    moves the position, without waking the stream's task (with 1,000 streams, waking each one and sending
    through Django's response loop for every event was most of the time an event took to reach them).
    Anything else, or anything while the inbox is not empty (order), or a client that is not reading,
    goes to the inbox and wakes the stream, which takes over with `stop_direct`."""

    __slots__ = ("_events", "_items", "_limit", "_waiter", "position", "schema", "viewer", "writer")

    def __init__(self, schema: str, limit: int, viewer: Viewer | None = None) -> None:
        self.schema = schema
        # whose stream (None: every event, as for a test's inbox); streams of the same viewer share deliveries
        self.viewer = viewer
        self._items: list[Item] = []
        self._events = 0  # events waiting, for the limit
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None
        self.writer: Writer | None = None
        self.position = 0  # the last event id the stream has sent or skipped, while a writer is attached

    def go_direct(self, writer: Writer, position: int) -> None:
        self.writer, self.position = writer, position

    def stop_direct(self) -> int:
        """Detach the writer; the stream's position, moved on by what was written directly."""
        self.writer = None
        return self.position

    def deliver(self, delivery: Delivery) -> None:
        writer = self.writer
        if (
            writer is not None
            and not self._items
            and delivery.first_id > self.position
            and (not delivery.body or writer(delivery.body))
        ):
            self.position = delivery.last_id
            return
        self.push((delivery,))

    def beat(self) -> None:
        """A heartbeat: written at once to a waiting stream, else left for the stream to send."""
        writer = self.writer
        if writer is not None and not self._items and writer(HEARTBEAT):
            return
        self.push((Signal.HEARTBEAT,))

    def push(self, items: Iterable[Item]) -> None:
        for item in items:
            self._items.append(item)
            if isinstance(item, Delivery):
                self._events += max(1, len(item.events))
            elif isinstance(item, StreamEvent):
                self._events += 1
        if self._events > self._limit:
            # bounded memory per stream; what is dropped stays in the log
            last = max(map(_last_id, self._items), default=0)
            revoked = [item for item in self._items if isinstance(item, Revoked)]  # never dropped
            self._items, self._events = [Skipped(last), *revoked], 0
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> list[Item]:
        """Wait for something, then take everything waiting (one write to the client for a burst)."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        items, self._items, self._events = self._items, [], 0
        return items


class Listener:
    def __init__(self, loop: asyncio.AbstractEventLoop, database: str = "default") -> None:
        self.loop = loop
        self.database = database  # NOTIFY reaches the sessions of its own database only: one listener each
        # schema -> viewer -> that viewer's streams
        self._subscriptions: dict[str, dict[Viewer | None, set[Subscription]]] = {}
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ---- what streams use ----------------------------------------------------------------------------

    async def wait_ready(self, timeout: float) -> bool:
        """Start the listener if needed; whether it is listening within `timeout` seconds."""
        if not self._tasks:
            tune_gc()
            self._tasks = [self.loop.create_task(self._run()), self.loop.create_task(self._heartbeat())]
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def subscribe(self, schema: str, viewer: Viewer | None = None) -> Subscription:
        subscription = Subscription(schema, int(conf.value("REALTIME_QUEUE_LIMIT")), viewer)
        self._subscriptions.setdefault(schema, {}).setdefault(viewer, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        viewers = self._subscriptions.get(subscription.schema)
        if viewers is None:
            return
        subscriptions = viewers.get(subscription.viewer)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del viewers[subscription.viewer]
        if not viewers:
            del self._subscriptions[subscription.schema]

    def _streams(self, schema: str) -> list[Subscription]:
        return [
            subscription
            for subscriptions in list(self._subscriptions.get(schema, {}).values())
            for subscription in list(subscriptions)
        ]

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        self._ready.clear()

    def stream_count(self) -> int:
        return sum(len(self._streams(schema)) for schema in list(self._subscriptions))

    # ---- the task ------------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff, connected_before = 0.5, False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    **connect_params(self.database), autocommit=True
                ) as conn:
                    await conn.execute("SET TIME ZONE 'UTC'")
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(REVOKED_CHANNEL)))
                    if connected_before:
                        self._broadcast(Signal.RESYNC)
                    connected_before, backoff = True, 0.5
                    self._ready.set()
                    await self._listen(conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("realtime listener lost its connection; reconnecting", exc_info=True)
            self._ready.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            batch = [notify async for notify in conn.notifies(timeout=KEEPALIVE_SECONDS, stop_after=1)]
            if not batch:
                await conn.execute("SELECT 1")
                continue
            # whatever else has arrived already: one query for a burst (one transaction may commit many)
            batch += [notify async for notify in conn.notifies(timeout=0)]
            self._revoke([notify.payload for notify in batch if notify.channel == REVOKED_CHANNEL])
            await self._dispatch(conn, [notify.payload for notify in batch if notify.channel == CHANNEL])

    def _revoke(self, payloads: list[str]) -> None:
        for payload in payloads:
            schema, _, raw_id = payload.rpartition(":")
            if schema in self._subscriptions and raw_id.isdigit():
                revoked = (Revoked(int(raw_id)),)
                for subscription in self._streams(schema):
                    subscription.push(revoked)

    async def _dispatch(self, conn: psycopg.AsyncConnection[Any], payloads: list[str]) -> None:
        ids: dict[str, list[int]] = defaultdict(list)
        for payload in payloads:
            schema, _, raw_id = payload.rpartition(":")
            if schema in self._subscriptions and raw_id.isdigit():
                ids[schema].append(int(raw_id))
        for schema, schema_ids in ids.items():
            try:
                events = await _fetch(conn, schema, schema_ids)
            except psycopg.Error:
                if conn.closed or conn.broken:
                    raise
                # one organization's schema is gone (purged) or broken: not a reason to drop everyone's
                logger.warning("realtime listener could not read %s's events", schema, exc_info=True)
                continue
            if events:
                self._fan_out(schema, events)

    def _fan_out(self, schema: str, events: list[StreamEvent]) -> None:
        """Each viewer's share of `events`, decided and rendered once, to each of their streams."""
        for viewer, subscriptions in list(self._subscriptions.get(schema, {}).items()):
            delivery = Delivery.of(events, viewer)
            for subscription in list(subscriptions):
                subscription.deliver(delivery)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(conf.value("REALTIME_HEARTBEAT_SECONDS"))
            for schema in list(self._subscriptions):
                for subscription in self._streams(schema):
                    subscription.beat()

    def _broadcast(self, signal: Signal) -> None:
        signals = (signal,)
        for schema in list(self._subscriptions):
            for subscription in self._streams(schema):
                subscription.push(signals)


async def _fetch(conn: psycopg.AsyncConnection[Any], schema: str, ids: list[int]) -> list[StreamEvent]:
    """The rows of `ids` in one organization's log, in id (commit) order. `schema` is one that a stream of
    this process subscribed to (its request's organization), never a name taken from a payload alone."""
    query = sql.SQL(
        "SELECT id, topic, record_id, actor_id, owner_id, data, created_at FROM {}.{} "
        "WHERE id = ANY(%s) ORDER BY id"
    ).format(sql.Identifier(schema), sql.Identifier(EventLog._meta.db_table))
    events: list[StreamEvent] = []
    for start in range(0, len(ids), FETCH_CHUNK):
        cursor = await conn.execute(query, [ids[start : start + FETCH_CHUNK]])
        events.extend(StreamEvent(*row) for row in await cursor.fetchall())
    events.sort(key=lambda event: event.id)
    return events


def connect_params(alias: str = "default") -> dict[str, Any]:
    database = settings.DATABASES[alias]
    params: dict[str, Any] = {
        key: value
        for key, value in (database.get("OPTIONS") or {}).items()
        if key not in _DJANGO_OPTIONS and value not in (None, "")
    }
    params.update(
        dbname=database["NAME"],
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        host=database.get("HOST") or None,
        port=database.get("PORT") or None,
        application_name=APPLICATION_NAME,
    )
    return {key: value for key, value in params.items() if value is not None}


_gc_tuned = False


def tune_gc() -> None:
    """Keep the cyclic garbage collector's pauses out of the streams' latency (once per process).

    Fanning one event out to 1,000 streams allocates thousands of short-lived containers (futures, handles,
    ASGI messages), so with Python's default threshold (700) a young collection ran every few events and a
    full one every second or so, walking every object of the process (Django, its URL conf, every module:
    hundreds of thousands): pauses of 70-160 ms measured here, during which no stream is written. So the
    objects alive when the first stream opens (the loaded application) are frozen out of the collector's
    walks (gc.freeze), and young collections run every REALTIME_GC_THRESHOLD allocations instead of 700.
    """
    global _gc_tuned
    threshold = int(conf.value("REALTIME_GC_THRESHOLD"))
    if _gc_tuned or threshold <= 0:
        return
    _gc_tuned = True
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(threshold, second, third)


_listeners: dict[str, Listener] = {}


def get_listener(database: str = "default") -> Listener:
    """This process's listener on `database` (where the organization is placed), bound to the running event
    loop (a new loop, as in tests, gets a new one)."""
    loop = asyncio.get_running_loop()
    listener = _listeners.get(database)
    if listener is None or listener.loop is not loop:
        listener = _listeners[database] = Listener(loop, database)
    return listener
