"""Request limits per API key and per member, by the organization's plan, and for sign-in attempts.

Counters live in the default cache, whose keys carry the organization's id: one organization reaching
its limit never touches another's counters. Over the limit: 429 with Retry-After.

The plan limit is a sliding-window counter (two fixed-window counts, the previous one weighted by how much of
it still lies inside the window): INCR, EXPIRE and GET pipelined with the plan's cached limits, in the
request's routing round trip once warm (below), else in one of its own, O(1) whatever the rate, and atomic,
where DRF's SimpleRateThrottle read, unpickled and rewrote a list of every request's time in the window (up
to 6,000 entries at the enterprise plan) and two
concurrent requests could each write back a list missing the other."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from shared_apps.organizations.limits import plan_limits_read, plan_limits_redis_key
from shared_apps.organizations.routing import (
    count_with_route,
    route_leave,
    route_remember,
    route_take,
    write_with_route,
)
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


# ---- counted in the routing round trip -------------------------------------------------------------------
# A warm API request's plan counter is counted in the route's round trip (organizations.routing
# count_with_route): the member or key is guessed from the process's copy of the credential and the plan from
# the organization's last request here. The throttle uses that count when authentication confirms the guess
# (same key, organization, plan and window length); otherwise, and for requests whose view has no plan
# throttle (or that end before it), the count is taken back: DECRBY in the next request's routing round trip
# (the counter keeps its expiry), so a guessed count costs no round trip of its own.

_EARLY = "throttle:early"


class _Early(NamedTuple):
    organization_id: int
    plan: str
    key: str
    duration: int
    now: float
    window: _Window


_plans: dict[int, str] = {}  # organization id -> its plan, as this process last saw it
_undo: dict[str, int] = {}  # counter key -> counts to take back
_undo_ttl: dict[str, int] = {}
_undo_lock = threading.Lock()


def _early_count(request: Any, organization_id: int, pipe: Any) -> tuple[int, Any] | None:
    # imported here: both build on modules that import this one (audit reads client_address)
    from shared_apps.organizations.namespace import organization_cache_key
    from shared_apps.users.credentials_cache import cached_subject

    plan = _plans.get(organization_id)
    if plan is None or not (meta := getattr(request, "META", None)):
        return None
    subject = cached_subject(meta, organization_id)
    if subject is None:
        return None
    rates = settings.THROTTLE_RATES_BY_PLAN
    _, duration = _parse_rate(rates.get(plan, rates["free"]))
    now = time.time()
    window, elapsed = divmod(now, duration)
    key = f"throttle:{subject}"
    cache = _counters()
    current, previous = (
        organization_cache_key(organization_id, f"{key}:{int(window) - step}", cache) for step in (0, 1)
    )
    pipe.incr(current)
    pipe.expire(current, 2 * duration)
    pipe.get(previous)
    pipe.get(plan_limits_redis_key(plan))

    def accept(results: list[Any]) -> None:
        if any(isinstance(result, Exception) for result in results):
            return  # not counted (or not known to be): the throttle counts for itself
        client = cache._cache.get_client(write=True)
        counted = _Window(client, current, results[0], int(results[2] or 0), elapsed, results[3])
        route_leave(_EARLY, _Early(organization_id, plan, key, duration, now, counted))

    return 4, accept


def _take_back(early: _Early) -> None:
    with _undo_lock:
        _undo[early.window.current] = _undo.get(early.window.current, 0) + 1
        _undo_ttl[early.window.current] = 2 * early.duration


def _early_unused() -> None:
    early = route_take(_EARLY)
    if early is not None:
        _take_back(early)


def _undo_ride(pipe: Any) -> None:
    with _undo_lock:
        pending, ttls = dict(_undo), dict(_undo_ttl)
        _undo.clear()
        _undo_ttl.clear()
    for key, count in pending.items():
        pipe.decrby(key, count)
        pipe.expire(key, ttls[key])


count_with_route(_early_count, _early_unused)
write_with_route(_undo_ride)


class PlanRateThrottle(BaseThrottle):
    """Requests per member (or API key) by the organization's plan (THROTTLE_RATES_BY_PLAN).

    The plan's limits are read in the counter's round trip (the route's once warm, see above; else its own):
    counted first under the window length of the deployment's rate for the plan, which an operator's
    per-minute limit shares unless the deployment set another unit (then the count is moved, at the cost of a
    second round trip)."""

    _wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None or not request.user or not request.user.is_authenticated:
            return True
        rates = settings.THROTTLE_RATES_BY_PLAN
        deployment_rate = rates.get(tenant.plan, rates["free"])
        _, counted_duration = _parse_rate(deployment_rate)
        _plans[tenant.pk] = tenant.plan
        key, limits_key = self.get_cache_key(request, view), plan_limits_redis_key(tenant.plan)
        early: _Early | None = route_take(_EARLY)
        if early is not None and early[:4] == (tenant.pk, tenant.plan, key, counted_duration):
            now, window = early.now, early.window  # counted with the route
        else:
            if early is not None:
                _take_back(early)  # counted for a wrong guess
            now = time.time()
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
