"""Sign-in attempts are counted per client address (which a client cannot choose by sending X-Forwarded-For)
and per account, through the API, the members' sign-in page and the operators' console alike."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import client_for, host_of


def _api_attempts(org, email, addresses=None, forwarded=None, n=4):
    client = client_for(org)
    codes = []
    for i in range(n):
        extra = {}
        if forwarded is not None:
            extra["HTTP_X_FORWARDED_FOR"] = forwarded(i)
        if addresses is not None:
            extra["REMOTE_ADDR"] = addresses(i)
        response = client.post(
            "/api/auth/token/", {"email": email, "password": "wrong"}, format="json", **extra
        )
        codes.append(response.status_code)
    return codes


def test_a_forged_x_forwarded_for_does_not_buy_more_guesses(org, member, settings):
    settings.THROTTLE_SIGN_IN_RATE = "3/min"
    user = member()
    codes = _api_attempts(org, user.email, forwarded=lambda i: f"203.0.113.{i}")
    assert codes == [401, 401, 401, 429]


def test_rotating_addresses_does_not_escape_the_per_account_limit(org, member, settings):
    settings.THROTTLE_SIGN_IN_ACCOUNT = "3/min"
    user = member()
    codes = _api_attempts(org, user.email, addresses=lambda i: f"198.51.100.{i}")
    assert codes == [401, 401, 401, 429]
    # the limit is the account's: another account from the same addresses is still heard
    other = member()
    assert _api_attempts(org, other.email, addresses=lambda i: f"198.51.100.{i}", n=1) == [401]


def test_behind_trusted_proxies_the_address_the_proxy_saw_is_the_client(org, member, settings):
    settings.THROTTLE_SIGN_IN_RATE = "2/min"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    user = member()
    # whatever the client prepends, the proxy's own entry (the last one) identifies it
    same = _api_attempts(org, user.email, forwarded=lambda i: f"10.9.9.{i}, 192.0.2.7", n=3)
    assert same == [401, 401, 429]
    elsewhere = _api_attempts(org, user.email, forwarded=lambda i: "192.0.2.8", n=1)
    assert elsewhere == [401]


@pytest.mark.parametrize("where", ["web", "console"])
def test_sign_in_pages_share_the_limits_and_ignore_forged_headers(where, org, member, operator, settings):
    settings.THROTTLE_SIGN_IN_RATE = "3/min"
    email = operator.email if where == "console" else member().email
    client = Client(HTTP_HOST=host_of(None if where == "console" else org))
    codes = [
        client.post(
            "/sign-in/", {"email": email, "password": "wrong"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"
        ).status_code
        for i in range(4)
    ]
    assert codes == [400, 400, 400, 429]


def test_the_page_and_the_api_count_one_accounts_attempts_together(org, member, settings):
    settings.THROTTLE_SIGN_IN_ACCOUNT = "3/min"
    user = member()
    page = Client(HTTP_HOST=host_of(org))
    for i in range(3):
        page.post("/sign-in/", {"email": user.email, "password": "wrong"}, REMOTE_ADDR=f"198.51.100.{i}")
    assert _api_attempts(org, user.email, n=1) == [429]
