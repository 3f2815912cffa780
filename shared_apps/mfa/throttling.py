from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

from shared_apps.http.throttling import sign_in_wait
from shared_apps.users.models import User


def code_attempt_wait(request: HttpRequest | Request, user: User) -> float | None:
    """Count a code attempt by a signed-in user (setting up, new recovery codes, turning off): None if it
    may go ahead, else the seconds to wait. The sign-in counters' rates, under keys of their own, so guessing
    codes here is as slow as at sign-in and does not lock the account's sign-in."""
    return sign_in_wait(request, f"two-factor:{user.email}")
