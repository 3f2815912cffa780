"""Process-local copies of hot Redis keys (shared_apps.core.nearcache): served from memory, dropped by a
change made here at once and by a change made in another process when its message arrives, never kept from a
read that raced a change, and all dropped when the listener (re)subscribes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from shared_apps.core import nearcache
from tests.conftest import eventually as _until


@pytest.fixture
def client() -> redis.Redis:
    client = nearcache._client()
    nearcache.epoch()  # the listener runs
    assert _until(nearcache.listening)
    return client


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    key = f"test:nearcache:{uuid.uuid4().hex}"
    client.set(key, b"one")
    yield key
    client.delete(key)


@pytest.fixture
def elsewhere(client: redis.Redis) -> Iterator[redis.Redis]:
    """A client of another process: its own connection, nothing of this process's module state."""
    shared = client.connection_pool
    pool = redis.ConnectionPool(connection_class=shared.connection_class, **shared.connection_kwargs)
    other = redis.Redis(connection_pool=pool)
    yield other
    other.close()


def test_a_copy_is_served_from_memory_until_a_change_here_drops_it(client, key):
    assert nearcache.read([key]) == [b"one"]
    client.set(key, b"two")  # behind the module's back: the copy stands
    assert nearcache.held(key) == (True, b"one")
    assert nearcache.read([key]) == [b"one"]
    nearcache.forget([key])
    assert nearcache.held(key) == (False, None)
    assert nearcache.read([key]) == [b"two"]


def test_a_change_published_by_another_process_drops_the_copy(client, key, elsewhere):
    assert nearcache.read([key]) == [b"one"]
    elsewhere.set(key, b"two")
    elsewhere.publish(nearcache._channel(), key)
    assert _until(lambda: nearcache.held(key) == (False, None))
    assert nearcache.read([key]) == [b"two"]


def test_a_value_read_while_a_change_was_handled_is_not_kept(key):
    since = nearcache.epoch()
    value = nearcache._client().get(key)  # read ...
    nearcache.forget([f"{key}:another"])  # ... while a change (of any key) is handled
    nearcache.keep([(key, value)], since)
    assert nearcache.held(key) == (False, None)
    nearcache.keep([(key, value)], nearcache.epoch())
    assert nearcache.held(key) == (True, b"one")


def test_a_missing_key_is_read_again_unless_its_absence_may_be_kept(client):
    key = f"test:nearcache:{uuid.uuid4().hex}"
    assert nearcache.read([key]) == [None]
    assert nearcache.held(key) == (False, None)
    assert nearcache.read([key], keep_missing=True) == [None]
    assert nearcache.held(key) == (True, None)
    client.set(key, b"set")
    nearcache.forget([key])
    assert nearcache.read([key], keep_missing=True) == [b"set"]
    client.delete(key)


def test_copies_are_dropped_and_not_kept_until_the_listener_has_subscribed_again(client, key):
    assert nearcache.read([key]) == [b"one"]
    listener = [c for c in client.client_list() if c.get("name") == nearcache.listener_name()]
    assert len(listener) == 1
    client.client_kill_filter(_id=listener[0]["id"])  # its connection lost: messages could be missed
    assert _until(lambda: nearcache.held(key) == (False, None))
    assert _until(nearcache.listening)  # reconnected and subscribed
    client.set(key, b"two")
    assert nearcache.read([key]) == [b"two"]
    assert nearcache.held(key) == (True, b"two")


def test_a_forked_child_serves_nothing_of_its_parents_copies(key):
    """A server that loads the application and then forks its workers (gunicorn's preload): a child's copies
    are its own, kept once its own listener has subscribed."""
    assert nearcache.read([key]) == [b"one"]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it holds, and leave at once
        try:
            os.write(write_end, repr(nearcache.held(key)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as reader:
        assert reader.read() == repr((False, None))
    assert nearcache.held(key) == (True, b"one")  # the parent's own stand
