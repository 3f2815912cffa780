"""The sign-in page the members' pages and the operators' console share (shared_apps.users.signin): one
throttle for both, counted per client address and email, answering with the page and a 429, never a 500."""

from __future__ import annotations

import uuid

from django.test import Client

from shared_apps.organizations.models import Organization
from tests.conftest import host_of


def _attempts(client: Client, email: str, times: int) -> list[int]:
    return [
        client.post("/sign-in/", {"email": email, "password": "wrong-password"}).status_code
        for _ in range(times)
    ]


def test_the_members_sign_in_page_is_throttled(org: Organization, settings: object) -> None:
    settings.THROTTLE_SIGN_IN_RATE = "3/min"  # type: ignore[attr-defined]
    client = Client(HTTP_HOST=host_of(org))
    email = f"{uuid.uuid4().hex}@acme.test"
    assert _attempts(client, email, 4) == [400, 400, 400, 429]
    limited = client.post("/sign-in/", {"email": email, "password": "wrong-password"})
    assert "Too many attempts" in limited.content.decode()
    # the counter is per email: another account's attempts are untouched
    assert _attempts(client, f"other-{email}", 1) == [400]


def test_the_console_sign_in_page_is_throttled(public: None, settings: object) -> None:
    settings.THROTTLE_SIGN_IN_RATE = "3/min"  # type: ignore[attr-defined]
    client = Client(HTTP_HOST=host_of(None))
    email = f"{uuid.uuid4().hex}@platform.test"
    assert _attempts(client, email, 4) == [400, 400, 400, 429]
    assert "Too many attempts" in client.post("/sign-in/", {"email": email}).content.decode()
