"""Request limits per API key and per member, by the organization's plan, and for sign-in attempts.

Counters live in the default cache, whose keys carry the organization's schema: one organization reaching
its limit never touches another's counters. Over the limit: 429 with Retry-After."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from shared_apps.users.models import ApiKey


class PlanRateThrottle(SimpleRateThrottle):
    scope = "plan"

    def __init__(self) -> None:  # the rate depends on the request's organization, not on a fixed scope
        pass

    def allow_request(self, request: Request, view: Any) -> bool:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None or not request.user or not request.user.is_authenticated:
            return True
        rates = settings.THROTTLE_RATES_BY_PLAN
        self.rate = rates.get(tenant.plan, rates["free"])
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, ApiKey):
            return f"throttle:key:{request.auth.pk}"
        return f"throttle:member:{request.user.pk}"


class SignInRateThrottle(SimpleRateThrottle):
    """Sign-in attempts per client address and email, so guessing passwords is slow."""

    scope = "sign_in"

    def get_rate(self) -> str:
        return settings.THROTTLE_SIGN_IN_RATE

    def get_cache_key(self, request: Request, view: Any) -> str:
        email = str(request.data.get("email", "") if hasattr(request.data, "get") else "").strip().lower()
        ident = hashlib.sha256(f"{self.get_ident(request)}|{email}".encode()).hexdigest()[:32]
        return f"throttle:sign-in:{ident}"
