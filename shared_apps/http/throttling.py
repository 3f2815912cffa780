"""Request limits per API key and per member, by the organization's plan, and for sign-in attempts.

Counters live in the default cache, whose keys carry the organization's id: one organization reaching
its limit never touches another's counters. Over the limit: 429 with Retry-After."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from shared_apps.organizations.limits import plan_limit
from shared_apps.users.models import ApiKey


class PlanRateThrottle(SimpleRateThrottle):
    scope = "plan"

    def __init__(self) -> None:  # the rate depends on the request's organization, not on a fixed scope
        pass

    def allow_request(self, request: Request, view: Any) -> bool:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None or not request.user or not request.user.is_authenticated:
            return True
        # the plan's own requests per minute when an operator set one, else the deployment's rate for it
        per_minute = plan_limit("api_requests_per_minute", tenant)
        rates = settings.THROTTLE_RATES_BY_PLAN
        self.rate = f"{per_minute}/min" if per_minute is not None else rates.get(tenant.plan, rates["free"])
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, ApiKey):
            return f"throttle:key:{request.auth.pk}"
        return f"throttle:member:{request.user.pk}"


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
