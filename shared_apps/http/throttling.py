"""Request limits per API key and per member, by the organization's plan, and for sign-in attempts.

Counters live in the default cache, whose keys carry the organization's id: one organization reaching
its limit never touches another's counters. Over the limit: 429 with Retry-After.

The plan limit is a sliding-window counter (two fixed-window counts, the previous one weighted by how much of
it still lies inside the window): one Redis round trip per request (INCR, EXPIRE and GET pipelined, with the
plan's cached limits), O(1) whatever the rate, and atomic, where DRF's SimpleRateThrottle read, unpickled and
rewrote a list of every request's time in the window (up to 6,000 entries at the enterprise plan) and two
concurrent requests could each write back a list missing the other."""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from shared_apps.organizations.limits import plan_limits_read, plan_limits_redis_key
from shared_apps.organizations.routing import route_remember
from shared_apps.users.models import ApiKey

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
    read: bytes | None  # the value of the extra key read in the same round trip


def _window_count(key: str, duration: int, now: float, read: str | None = None) -> _Window:
    """INCR the current window's counter (and EXPIRE it), GET the previous window's and the raw key `read`:
    one round trip."""
    window, elapsed = divmod(now, duration)
    cache = _counters()
    current, previous = (cache.make_key(f"{key}:{int(window) - step}") for step in (0, 1))
    client = cache._cache.get_client(write=True)
    pipe = client.pipeline(transaction=False)
    pipe.incr(current)
    pipe.expire(current, 2 * duration)
    pipe.get(previous)
    if read is not None:
        pipe.get(read)
    results = pipe.execute()
    extra = results[3] if read is not None else None
    return _Window(client, current, results[0], int(results[2] or 0), elapsed, extra)


def _window_wait(window: _Window, limit: int, duration: int) -> float | None:
    count, before, elapsed = window.counted, window.before, window.elapsed
    weight = 1 - elapsed / duration
    if before * weight + count <= limit:
        return None
    window.client.decr(window.current)
    count -= 1
    if count >= limit:  # the current window alone is full: wait for the next one
        return duration - elapsed
    # the previous window's share has to fade until this request fits: before * (1 - f) + count + 1 <= limit
    return max(((1 - (limit - count - 1) / before) - (elapsed / duration)) * duration, 0.001)


class PlanRateThrottle(BaseThrottle):
    """Requests per member (or API key) by the organization's plan (THROTTLE_RATES_BY_PLAN).

    The plan's limits are read in the counter's own round trip (one per request): counted first under the
    window length of the deployment's rate for the plan, which an operator's per-minute limit shares unless
    the deployment set another unit (then the count is moved, at the cost of a second round trip)."""

    _wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None or not request.user or not request.user.is_authenticated:
            return True
        rates = settings.THROTTLE_RATES_BY_PLAN
        deployment_rate = rates.get(tenant.plan, rates["free"])
        _, counted_duration = _parse_rate(deployment_rate)
        key, now = self.get_cache_key(request, view), time.time()
        limits_key = plan_limits_redis_key(tenant.plan)
        window = _window_count(key, counted_duration, now, read=limits_key)
        route_remember(limits_key, window.read)  # the request's later plan checks read them from here
        # the plan's own requests per minute when an operator set one, else the deployment's rate for it
        per_minute = plan_limits_read(tenant.plan, window.read)["api_requests_per_minute"]
        limit, duration = _parse_rate(f"{per_minute}/min" if per_minute is not None else deployment_rate)
        if duration == counted_duration:
            self._wait = _window_wait(window, limit, duration)
        else:
            window.client.decr(window.current)
            self._wait = sliding_window_wait(key, limit, duration, now)
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
