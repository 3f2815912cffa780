"""The plan throttle: a sliding window counted atomically in Redis (one round trip), or in the process and
sent behind once warm; 429 + Retry-After."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from redis.connection import AbstractConnection

from shared_apps.core.redis_pool import background_client
from shared_apps.http import throttling
from shared_apps.http.throttling import sliding_window_wait
from tests.conftest import eventually as _until

MINUTE = 60


def test_allows_up_to_the_limit_then_refuses_with_the_wait(public: None) -> None:
    start = 600 * MINUTE + 10.0  # 10 s into a window
    waits = [sliding_window_wait("t:a", 3, MINUTE, now=start + i * 0.01) for i in range(5)]
    assert waits[:3] == [None, None, None]
    assert 49 < waits[3] < 50.1 and 49 < waits[4] < 50.1  # until the next window


def test_a_refused_request_is_not_counted(public: None) -> None:
    start = 600 * MINUTE + 1.0
    for i in range(2):
        assert sliding_window_wait("t:b", 2, MINUTE, now=start + i) is None
    for i in range(20):
        assert sliding_window_wait("t:b", 2, MINUTE, now=start + 3 + i) is not None
    # in the next window the previous one's 2 (not 22) weigh by what is left of it
    later = 601 * MINUTE + 30.0  # half way: 2 * 0.5 = 1 carried over, so one more fits
    assert sliding_window_wait("t:b", 2, MINUTE, now=later) is None
    assert sliding_window_wait("t:b", 2, MINUTE, now=later + 0.1) is not None


def test_the_previous_window_fades_instead_of_resetting_at_the_boundary(public: None) -> None:
    start = 600 * MINUTE + 59.0
    for i in range(4):
        assert sliding_window_wait("t:c", 4, MINUTE, now=start + i * 0.1) is None
    just_after = 601 * MINUTE + 0.5  # a fixed window would allow 4 more here
    wait = sliding_window_wait("t:c", 4, MINUTE, now=just_after)
    assert wait is not None and 14 < wait < 16  # 4 * (1 - f) + 1 <= 4 once f >= 1/4: 15 s in


def _admitted_at_once(wait: Callable[[], float | None], threads: int = 60) -> int:
    """How many of `threads` concurrent calls of `wait` were admitted."""
    allowed: list[bool] = []
    lock = threading.Lock()

    def call() -> None:
        ok = wait() is None
        with lock:
            allowed.append(ok)

    running = [threading.Thread(target=call) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return allowed.count(True)


def test_concurrent_requests_never_exceed_the_limit(public: None) -> None:
    now = 600 * MINUTE + 5.0
    assert _admitted_at_once(lambda: sliding_window_wait("t:d", 25, MINUTE, now=now)) == 25


# ---- counted in the process once warm (plan_wait) --------------------------------------------------------


def _counter(key: str, now: float) -> int:
    cache = throttling._counters()
    raw = cache._cache.get_client(write=True).get(cache.make_key(f"{key}:{int(now // MINUTE)}"))
    return int(raw or 0)


def _heard(key: str, now: float) -> int | None:
    """The window's count as this process last heard it from Redis, once nothing is on its way."""
    cache = throttling._counters()
    count = throttling._counts.get(cache.make_key(f"{key}:{int(now // MINUTE)}"))
    return None if count is None or count.in_flight or count.waiting else count.counted


def test_warm_counts_are_exact_in_the_process_and_reach_redis_behind(public: None) -> None:
    now = 600 * MINUTE + 5.0
    assert throttling.plan_wait("t:e", 5, MINUTE, now=now) is None  # cold: counted in Redis at once
    assert _counter("t:e", now) == 1
    assert [throttling.plan_wait("t:e", 5, MINUTE, now=now) for _ in range(4)] == [None] * 4
    assert throttling.plan_wait("t:e", 5, MINUTE, now=now) is not None  # the 6th, refused in the process
    assert _until(lambda: _counter("t:e", now) == 5)  # the 4 warm ones sent behind; the refused one never


def test_counts_of_other_processes_are_heard_at_the_next_send(public: None) -> None:
    now = 600 * MINUTE + 5.0
    assert throttling.plan_wait("t:f", 10, MINUTE, now=now) is None  # cold
    cache = throttling._counters()
    cache._cache.get_client(write=True).incrby(cache.make_key(f"t:f:{int(now // MINUTE)}"), 8)  # elsewhere
    assert throttling.plan_wait("t:f", 10, MINUTE, now=now) is None  # 2 as far as this process knows
    assert _until(lambda: _heard("t:f", now) == 10)  # sent behind, the answer counting every process's
    assert throttling.plan_wait("t:f", 10, MINUTE, now=now) is not None  # 10 heard back: full


def test_a_count_not_heard_about_lately_is_counted_in_redis_at_once(public: None, monkeypatch) -> None:
    monkeypatch.setattr(throttling, "FRESH_FOR", 0.0)
    now = 600 * MINUTE + 5.0
    for expected in range(1, 4):
        assert throttling.plan_wait("t:g", 10, MINUTE, now=now) is None
        assert _counter("t:g", now) == expected


def test_concurrent_warm_requests_never_exceed_the_limit_in_a_process(public: None) -> None:
    now = 600 * MINUTE + 5.0
    assert throttling.plan_wait("t:h", 25, MINUTE, now=now) is None  # warm from here
    assert _admitted_at_once(lambda: throttling.plan_wait("t:h", 25, MINUTE, now=now)) == 24
    assert _until(lambda: _counter("t:h", now) == 25)


def test_a_forked_child_does_not_send_its_parents_counts_again(public: None) -> None:
    now = 600 * MINUTE + 5.0
    assert throttling.plan_wait("t:i", 25, MINUTE, now=now) is None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how many counts it would send, and leave at once
        try:
            os.write(write_end, str(len(throttling._counts)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as reader:
        assert reader.read() == "0"
    assert len(throttling._counts) == 1  # the parent's own stand


def test_counts_are_sent_over_a_connection_of_their_own(public: None, monkeypatch) -> None:
    """The sender never takes one of the requests' pooled connections (nor makes that pool open another
    when it meets a request there)."""
    now = 600 * MINUTE + 5.0
    assert throttling.plan_wait("t:j", 25, MINUTE, now=now) is None  # cold, in the request's own trip
    used: list[Any] = []
    real = AbstractConnection.send_packed_command

    def recording(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        used.append(self)
        real(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", recording)
    assert throttling.plan_wait("t:j", 25, MINUTE, now=now) is None  # warm: sent behind
    throttling.counts_send()
    shared = throttling._counters()._cache.get_client(write=True)
    own = background_client(shared).connection_pool
    assert used and all(connection.pid and connection in own._connections for connection in used)
    assert not any(connection in shared.connection_pool._connections for connection in used)


def test_a_count_refreshed_in_redis_keeps_what_the_sender_is_sending(public: None, monkeypatch) -> None:
    """A stale count counted in Redis again while the sender has counts on their way: the sender settles them
    on the same count, so nothing stays counted as in flight for good (a refusal too early ever after)."""
    now = 600 * MINUTE + 5.0
    assert throttling.plan_wait("t:k", 25, MINUTE, now=now) is None
    cache = throttling._counters()
    count = throttling._counts[f"{cache.make_key('t:k')}:{int(now // MINUTE)}"]
    count.in_flight = 2  # a send under way
    monkeypatch.setattr(throttling, "FRESH_FOR", 0.0)
    assert throttling.plan_wait("t:k", 25, MINUTE, now=now) is None  # stale: counted in Redis at once
    assert throttling._counts[f"{cache.make_key('t:k')}:{int(now // MINUTE)}"] is count
    assert (count.counted, count.in_flight) == (2, 2)  # the sender's answer will take its 2 off this count
