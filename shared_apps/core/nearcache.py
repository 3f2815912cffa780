"""Process-local copies of small, hot Redis keys, dropped when any process changes them (Redis pub/sub).

A warm request used to read its host's route, the organization's credentials generation, its plan limits and
a few cached settings from Redis in one round trip (~0.2 ms here, most of what routing and authentication
cost). Each process now keeps the raw values it read (`read`) and serves them from memory while it listens
on this Redis database's invalidation channel: whoever changes such a key calls `forget(keys)`, which drops
the copies of this process at once and publishes the keys, and every other process drops its copies when
the message arrives (a fraction of a millisecond on one host). So a change is seen by the changing process
at once and by the others within the channel's delivery, where before it was seen at their next request.

What keeps a copy from outliving its value:
- A copy is kept only while the process is subscribed. The listener drops every copy when it subscribes
  (again, after a lost connection: messages published meanwhile were missed), and nothing is kept or served
  while it is not subscribed; reads then go to Redis, as before.
- A read that raced a change is not kept: every drop raises the process's epoch, and a value read from Redis
  is kept only if the epoch has not moved since the read began (else the copy could predate the change
  whose message was just handled).
- Writers change Redis first, then call `forget`: a process that reads after the message reads the new value.
  Callers that change a key inside a transaction call `forget` at once and again when it commits (as they
  already deleted their Redis keys twice): a reader that loaded the old rows meanwhile cannot keep them.
- A copy is served for at most MAX_AGE seconds: a bound, should a message ever be lost on a live connection
  (the listener also pings the server every HEALTH_CHECK seconds, so a dead connection is noticed).
- A missing key is read again next time (its reader fills it), unless the caller says every write of it
  is followed by `forget` (`keep_missing`): then its absence is kept too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from django.core.cache import caches

logger = logging.getLogger(__name__)

MAX_AGE = 60.0
MAX_ENTRIES = 20_000
HEALTH_CHECK = 5
RECONNECT_DELAY = 0.5
MAX_RECONNECT_DELAY = 5.0

_copies: dict[str, tuple[float, bytes | None]] = {}  # full Redis key -> (monotonic time kept, raw value)
_lock = threading.Lock()
_epoch = 0
_listening = False
_listener_pid: int | None = None
_channel_name: str | None = None
_client_object: Any = None


def _client() -> Any:
    global _client_object
    if _client_object is None:
        _client_object = caches.create_connection("platform")._cache.get_client(write=True)  # type: ignore[attr-defined]
    return _client_object


def _channel() -> str:
    """One channel per Redis database: PUBLISH reaches every database's subscribers, and a message meant for
    another database (another deployment or test run on the same server) would only cost needless drops."""
    global _channel_name
    if _channel_name is None:
        db = _client().connection_pool.connection_kwargs.get("db", 0)
        _channel_name = f"leadpulse:nearcache:{db}"
    return _channel_name


def read(keys: Sequence[str], *, keep_missing: bool = False) -> list[bytes | None]:
    """The raw values of `keys` (full Redis keys; None where missing): this process's copies where it holds
    them, the others in one MGET (then kept; missing ones too with `keep_missing`)."""
    _ensure_listener()
    now = time.monotonic()
    values: list[bytes | None] = []
    missing: list[int] = []
    for position, key in enumerate(keys):
        kept = _copies.get(key) if _listening else None
        if kept is not None and now - kept[0] < MAX_AGE:
            values.append(kept[1])
        else:
            values.append(None)
            missing.append(position)
    if not missing:
        return values
    epoch = _epoch
    found = _client().mget([keys[position] for position in missing])
    for position, value in zip(missing, found, strict=True):
        values[position] = value
    pairs = ((keys[position], value) for position, value in zip(missing, found, strict=True))
    keep(pairs, epoch, keep_missing=keep_missing)
    return values


def held(key: str) -> tuple[bool, bytes | None]:
    """(True, raw value) when this process holds a current copy of `key`; (False, None) otherwise."""
    _ensure_listener()  # a forked child holds nothing of its parent's
    kept = _copies.get(key) if _listening else None
    if kept is None or time.monotonic() - kept[0] >= MAX_AGE:
        return False, None
    return True, kept[1]


def epoch() -> int:
    """Take before reading a key from Redis yourself, and pass to `keep` with what was read."""
    _ensure_listener()
    return _epoch


def keep(pairs: Iterable[tuple[str, bytes | None]], since: int, *, keep_missing: bool = False) -> None:
    """Keep the values read from Redis since epoch `since` (missing ones only with `keep_missing`), unless a
    key was dropped meanwhile."""
    now = time.monotonic()
    with _lock:
        if not _listening or _epoch != since:
            return
        for key, value in pairs:
            if value is not None or keep_missing:
                if len(_copies) >= MAX_ENTRIES:
                    _copies.clear()  # more hot keys than the bound: start over rather than grow
                _copies[key] = (now, value)


def forget(keys: Iterable[str]) -> None:
    """`keys` (full Redis keys) changed: drop this process's copies now and every other process's (publish).
    Call after changing Redis; never raises (Redis down: nobody is reading copies that outlive it for long,
    MAX_AGE bounds them)."""
    keys = [str(key) for key in keys]
    if not keys:
        return
    _drop(keys)
    try:
        _client().publish(_channel(), "\n".join(keys))
    except redis.RedisError:
        logger.warning("nearcache: could not publish a change of %s", keys[:3], exc_info=True)


def clear() -> None:
    """Drop every copy of this process (tests: a flushed Redis database publishes nothing)."""
    global _epoch
    with _lock:
        _copies.clear()
        _epoch += 1


def _drop(keys: Iterable[str]) -> None:
    global _epoch
    with _lock:
        for key in keys:
            _copies.pop(key, None)
        _epoch += 1


def listening() -> bool:
    return _listening


def listener_name() -> str:
    """The Redis client name of this process's listener connection (CLIENT LIST)."""
    return f"leadpulse-nearcache-{os.getpid()}"


def _ensure_listener() -> None:
    global _listener_pid
    if _listener_pid == os.getpid():
        return
    with _lock:
        if _listener_pid == os.getpid():
            return
        _listener_pid = os.getpid()  # after a fork the parent's thread is gone: the child starts its own
        _set_listening(False)
        threading.Thread(target=_listen, name="nearcache-listener", daemon=True).start()


def _set_listening(value: bool) -> None:
    global _listening, _epoch
    _copies.clear()
    _epoch += 1
    _listening = value


def _after_fork_in_child() -> None:
    """The child has no listener thread, and a lock another thread held at the fork would stay held."""
    global _lock, _listening, _listener_pid, _epoch
    _lock = threading.Lock()
    _copies.clear()
    _epoch += 1
    _listening, _listener_pid = False, None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _listen() -> None:
    pid = os.getpid()
    shared = _client().connection_pool
    kwargs = dict(shared.connection_kwargs, health_check_interval=HEALTH_CHECK, socket_timeout=None)
    kwargs["client_name"] = listener_name()
    delay = RECONNECT_DELAY
    while _listener_pid == pid:
        pubsub = None
        try:
            # a connection of its own, outside the shared pool it would hold for good
            pool = redis.ConnectionPool(connection_class=shared.connection_class, max_connections=1, **kwargs)
            pubsub = redis.Redis(connection_pool=pool).pubsub()
            pubsub.subscribe(_channel())
            while _listener_pid == pid:
                message = pubsub.get_message(timeout=HEALTH_CHECK)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    with _lock:
                        _set_listening(True)  # what was kept before may predate a missed message
                    delay = RECONNECT_DELAY
                elif message["type"] == "message":
                    data = message["data"]
                    _drop((data.decode() if isinstance(data, bytes) else str(data)).split("\n"))
        except Exception:
            # once per outage: Redis down means every request says so already
            log = logger.warning if delay == RECONNECT_DELAY else logger.debug
            log("nearcache: listener lost its connection; reconnecting", exc_info=True)
        finally:
            with _lock:
                _set_listening(False)
            if pubsub is not None:
                with contextlib.suppress(Exception):  # a dead connection: nothing left to close
                    pubsub.close()
        time.sleep(delay)
        delay = min(delay * 2, MAX_RECONNECT_DELAY)
