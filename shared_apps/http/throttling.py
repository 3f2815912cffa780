"""Request limits per API key and per member, by the organization's plan, and for sign-in attempts.

Counters live in the default cache, whose keys carry the organization's id: one organization reaching
its limit never touches another's counters. Over the limit: 429 with Retry-After.

The plan limit is a sliding-window counter (two fixed-window counts, the previous one weighted by how much of
it still lies inside the window): INCR, EXPIRE and GET in one round trip, O(1) whatever the rate, and atomic,
where DRF's SimpleRateThrottle read, unpickled and rewrote a list of every request's time in the window (up
to 6,000 entries at the enterprise plan) and two concurrent requests could each write back a list missing the
other. Once warm it is counted in the process and sent behind (plan_wait, below)."""

from __future__ import annotations

import atexit
import hashlib
import logging
import math
import os
import threading
import time
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from shared_apps.core.redis_pool import background_client
from shared_apps.organizations.limits import plan_limits
from shared_apps.users.models import ApiKey

logger = logging.getLogger(__name__)

_counter_cache: Any = None


def _counters() -> Any:
    # One process-wide cache object (its client draws from the shared pool): under ASGI `caches[...]` is
    # per request context, and building it per request costs more than the counting itself.
    global _counter_cache
    if _counter_cache is None:
        _counter_cache = caches.create_connection("default")
    return _counter_cache


def sliding_window_wait(key: str, limit: int, duration: int, now: float | None = None) -> float | None:
    """Count one request against `limit` per `duration` seconds under `key` (in the current organization's
    namespace); None if it may go ahead, else the seconds until it may. A refused request is not counted."""
    now = time.time() if now is None else now
    window = _window_count(key, duration, now)
    return _window_wait(window, limit, duration)


class _Window(NamedTuple):
    client: Any
    current: str  # the current window's Redis key
    counted: int  # the current window's count, this request included
    before: int  # the previous window's count
    elapsed: float  # seconds of the current window gone


def _window_count(key: str, duration: int, now: float) -> _Window:
    """INCR the current window's counter (and EXPIRE it), GET the previous window's: one round trip."""
    window, elapsed = divmod(now, duration)
    cache = _counters()
    current, previous = (cache.make_key(f"{key}:{int(window) - step}") for step in (0, 1))
    client = cache._cache.get_client(write=True)
    pipe = client.pipeline(transaction=False)
    pipe.incr(current)
    pipe.expire(current, 2 * duration)
    pipe.get(previous)
    results = pipe.execute()
    return _Window(client, current, results[0], int(results[2] or 0), elapsed)


def _window_wait(window: _Window, limit: int, duration: int) -> float | None:
    wait = _wait(window.counted, window.before, window.elapsed, limit, duration)
    if wait is not None:
        window.client.decr(window.current)  # a refused request is not counted
    return wait


def _wait(count: int, before: int, elapsed: float, limit: int, duration: int) -> float | None:
    """None if `count` (this request included) fits the sliding window, else the seconds to wait."""
    if before * (1 - elapsed / duration) + count <= limit:
        return None
    count -= 1
    if count >= limit:  # the current window alone is full: wait for the next one
        return duration - elapsed
    # the previous window's share has to fade until this request fits: before * (1 - f) + count + 1 <= limit
    return max(((1 - (limit - count - 1) / before) - (elapsed / duration)) * duration, 0.001)


# ---- counted in the process, sent behind ----------------------------------------------------------------
# A warm plan counter is counted in the process: each process holds, per counter (member or key, window), the
# count Redis last returned, the counts it has sent since (in flight) and those waiting to be sent; a request
# is admitted against their sum, and a background thread sends the waiting counts every FLUSH_INTERVAL
# (INCRBY, which returns the count of every process, and the previous window's), so a warm request makes no
# round trip. Within a process the limit is exact; across processes a counter may run over by what the others
# admitted since this process last heard back (FLUSH_INTERVAL while it is busy, at most FRESH_FOR). A counter
# this process has not heard about for FRESH_FOR seconds (a new window, a quiet member) is counted in Redis
# at once, as before: one round trip.

FLUSH_INTERVAL = 0.05
FRESH_FOR = 1.0


class _Count:
    __slots__ = ("before", "counted", "duration", "heard", "in_flight", "previous", "waiting")

    def __init__(self, counted: int, before: int, previous: str, duration: int, heard: float) -> None:
        self.counted = counted  # the window's count as Redis last returned it (every process's)
        self.before = before  # the previous window's
        self.in_flight = 0  # sent, not answered yet
        self.waiting = 0  # admitted here, not sent yet
        self.previous, self.duration, self.heard = previous, duration, heard


_counts: dict[str, _Count] = {}  # the current window's Redis key -> its count in this process
_counts_lock = threading.Lock()
_sender_wake = threading.Event()
_sender_pid: int | None = None


def plan_wait(key: str, limit: int, duration: int, now: float | None = None) -> float | None:
    """sliding_window_wait, counted in the process while its count of the window is fresh (above)."""
    now = time.time() if now is None else now
    window, elapsed = divmod(now, duration)
    base = _counters().make_key(key)  # the window's number goes last: one key made, not two
    current, previous = f"{base}:{int(window)}", f"{base}:{int(window) - 1}"
    with _counts_lock:
        count = _counts.get(current)
        if count is not None and time.monotonic() - count.heard < FRESH_FOR:
            total = count.counted + count.in_flight + count.waiting + 1
            wait = _wait(total, count.before, elapsed, limit, duration)
            if wait is None:
                count.waiting += 1
                _sender_start()
            return wait
    counted = _window_count(key, duration, now)
    wait = _window_wait(counted, limit, duration)
    with _counts_lock:
        heard, total = time.monotonic(), counted.counted - (wait is not None)
        count = _counts.get(current)
        if count is None:
            _counts[current] = _Count(total, counted.before, previous, duration, heard)
        else:  # updated in place: what other threads admitted meanwhile, or the sender is sending, stays
            count.counted, count.before, count.heard = total, counted.before, heard
    return wait


def _sender_start() -> None:
    global _sender_pid
    if _sender_pid != os.getpid():  # after a fork the parent's thread is gone
        _sender_pid = os.getpid()
        threading.Thread(target=_send_loop, name="throttle-sender", daemon=True).start()
    _sender_wake.set()


def _send_loop() -> None:
    pid = os.getpid()
    while _sender_pid == pid:
        _sender_wake.wait()
        _sender_wake.clear()
        time.sleep(FLUSH_INTERVAL)  # what more requests admit meanwhile goes in the same round trip
        counts_send()


def counts_send() -> None:
    """Send the counts waiting in this process and take back every process's counts (never raises)."""
    with _counts_lock:
        sending = [(key, count, count.waiting) for key, count in _counts.items() if count.waiting]
        for _key, count, waiting in sending:
            count.in_flight += waiting
            count.waiting = 0
        stale = [key for key, count in _counts.items() if not count.in_flight and not count.waiting]
        for key in stale:
            if time.monotonic() - _counts[key].heard > 2 * FRESH_FOR:
                del _counts[key]
    if not sending:
        return
    try:
        pipe = background_client(_counters()._cache.get_client(write=True)).pipeline(transaction=False)
        for key, count, waiting in sending:
            pipe.incrby(key, waiting)
            pipe.expire(key, 2 * count.duration)
            pipe.get(count.previous)
        results = pipe.execute()
    except Exception:
        logger.warning("plan throttle: counts not sent; kept for the next send", exc_info=True)
        with _counts_lock:
            for _key, count, waiting in sending:
                count.in_flight -= waiting
                count.waiting += waiting
        _sender_wake.set()
        return
    heard = time.monotonic()
    with _counts_lock:
        for position, (_key, count, waiting) in enumerate(sending):
            count.counted, count.before = int(results[3 * position]), int(results[3 * position + 2] or 0)
            count.in_flight -= waiting
            count.heard = heard


atexit.register(counts_send)


def counts_forget() -> None:
    """Forget this process's counts (tests: a flushed Redis database has forgotten them)."""
    with _counts_lock:
        _counts.clear()


def _after_fork_in_child() -> None:
    """The parent sends its own counts; the child has no sender thread, and a lock another thread held at
    the fork would stay held."""
    global _counts_lock, _sender_wake, _sender_pid
    _counts_lock, _sender_wake, _sender_pid = threading.Lock(), threading.Event(), None
    _counts.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


class PlanRateThrottle(BaseThrottle):
    """Requests per member (or API key) by the organization's plan: the operator's requests per minute for
    the plan when set (shared_apps.organizations.limits), else the deployment's THROTTLE_RATES_BY_PLAN.
    Counted in the process while warm (plan_wait)."""

    _wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None or not request.user or not request.user.is_authenticated:
            return True
        per_minute = plan_limits(tenant.plan)["api_requests_per_minute"]
        if per_minute is not None:
            limit, duration = _parse_rate(f"{per_minute}/min")
        else:
            rates = settings.THROTTLE_RATES_BY_PLAN
            limit, duration = _parse_rate(rates.get(tenant.plan, rates["free"]))
        self._wait = plan_wait(self.get_cache_key(request, view), limit, duration)
        return self._wait is None

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, ApiKey):
            return f"throttle:key:{request.auth.pk}"
        return f"throttle:member:{request.user.pk}"

    def wait(self) -> float | None:
        # DRF rounds Retry-After up to whole seconds
        return None if self._wait is None else max(1.0, math.ceil(self._wait))


_rates: dict[str, tuple[int, int]] = {}


def _parse_rate(rate: str) -> tuple[int, int]:
    parsed = _rates.get(rate)
    if parsed is None:
        num, duration = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]
        parsed = _rates[rate] = (int(num or 0), int(duration or 1))
    return parsed


class _Counter(SimpleRateThrottle):
    """One sign-in counter: a rate and a key chosen by sign_in_wait."""

    def __init__(self, rate: str, key: str) -> None:
        self.rate, self._counter_key = rate, key
        self.num_requests, self.duration = self.parse_rate(rate)

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self._counter_key


def client_address(request: HttpRequest | Request) -> str:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For as seen by the outermost of TRUSTED_PROXIES
    proxies (DRF's NUM_PROXIES), so a client cannot choose it by sending the header itself."""
    # get_ident reads only the headers and META, which a Django request has as well as DRF's
    return str(BaseThrottle().get_ident(request))  # type: ignore[arg-type]


def sign_in_wait(request: HttpRequest | Request, email: object) -> float | None:
    """Count a sign-in attempt; None if it may go ahead, else the seconds to wait.

    Two counters, both must allow it: per client address and email (THROTTLE_SIGN_IN_RATE), and per account
    whatever the address (THROTTLE_SIGN_IN_ACCOUNT), so rotating addresses gains an attacker nothing. The API,
    the members' web sign-in and the operators' console share them."""
    email = email.strip().lower() if isinstance(email, str) else ""
    by_address = hashlib.sha256(f"{client_address(request)}|{email}".encode()).hexdigest()[:32]
    by_account = hashlib.sha256(email.encode()).hexdigest()[:32]
    counters = [
        _Counter(settings.THROTTLE_SIGN_IN_RATE, f"throttle:sign-in:{by_address}"),
        _Counter(settings.THROTTLE_SIGN_IN_ACCOUNT, f"throttle:sign-in-account:{by_account}"),
    ]
    refused = [counter for counter in counters if not counter.allow_request(request, None)]  # type: ignore[arg-type]
    if not refused:
        return None
    return max(counter.wait() or 1 for counter in refused)


class SignInRateThrottle(BaseThrottle):
    """The API's sign-in limit (sign_in_wait), as a DRF throttle."""

    _wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        email = request.data.get("email", "") if hasattr(request.data, "get") else ""
        self._wait = sign_in_wait(request, email)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
