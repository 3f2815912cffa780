"""The plan throttle: one atomic Redis round trip per request, a sliding window, 429 + Retry-After."""

from __future__ import annotations

import threading

from shared_apps.http.throttling import sliding_window_wait

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


def test_concurrent_requests_never_exceed_the_limit(public: None) -> None:
    allowed: list[bool] = []
    lock = threading.Lock()
    now = 600 * MINUTE + 5.0

    def call() -> None:
        ok = sliding_window_wait("t:d", 25, MINUTE, now=now) is None
        with lock:
            allowed.append(ok)

    threads = [threading.Thread(target=call) for _ in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 25
