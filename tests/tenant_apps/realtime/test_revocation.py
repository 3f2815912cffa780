"""An open stream ends within seconds of its member being deactivated or its token being revoked, not at
its next reconnection; other members' streams go on."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from shared_apps.organizations.models import Organization
from shared_apps.users.models import AuthToken, Role, User, token_digest
from shared_apps.users.services import member_set_active, token_issue, token_revoke
from tenant_apps.realtime import views
from tenant_apps.realtime.listener import Revoked, Skipped, Subscription
from tenant_apps.realtime.selectors import Replay
from tests.conftest import PASSWORD
from tests.tenant_apps.realtime.conftest import ACME, Stream, in_schema
from tests.tenant_apps.realtime.test_stream_logic import OTHER, REP, FakeListener, event, viewer

pytestmark = pytest.mark.django_db

EMAIL = "revoked@acme.test"
ENDS_WITHIN = 5.0


@pytest.fixture
def member(world):
    """A committed rep of acme with a token: (raw token, member id); removed afterwards."""

    def make() -> tuple[str, int]:
        User.objects.create_user(EMAIL, PASSWORD, role=Role.REP)
        raw, token = token_issue(email=EMAIL, password=PASSWORD)
        return raw, token.user_id

    raw, member_id = in_schema(ACME, make)
    yield raw, member_id
    in_schema(ACME, lambda: User.objects.filter(email=EMAIL).delete())


def ends_within(stream: Stream, seconds: float) -> float:
    """Read (heartbeats come every 0.5 s) until the stream ends; how long that took."""
    start = time.monotonic()
    stream.within(seconds)
    with pytest.raises(EOFError):
        while True:
            stream.next()
    return time.monotonic() - start


def test_a_deactivated_members_open_stream_ends_within_seconds(open_stream, member, world):
    raw, member_id = member
    stream = open_stream("acme", headers={"Authorization": f"Bearer {raw}"})
    bystander = open_stream("acme", "acme")
    stream.until_ready()
    bystander.until_ready()

    in_schema(ACME, member_set_active, member_id=member_id, active=False)

    assert ends_within(stream, ENDS_WITHIN) < ENDS_WITHIN
    bystander.quiet_for(2)  # another member's stream goes on
    again = open_stream("acme", headers={"Authorization": f"Bearer {raw}"})
    assert again.status == 401


def test_a_revoked_tokens_open_stream_ends_and_the_members_other_token_streams_on(
    open_stream, server, member, world
):
    raw, _ = member
    other_raw, _ = in_schema(ACME, token_issue, email=EMAIL, password=PASSWORD)
    revoked = open_stream("acme", headers={"Authorization": f"Bearer {raw}"})
    kept = open_stream("acme", headers={"Authorization": f"Bearer {other_raw}"})
    revoked.until_ready()
    kept.until_ready()

    in_schema(ACME, lambda: token_revoke(token=AuthToken.objects.get(digest=token_digest(raw))))

    assert ends_within(revoked, ENDS_WITHIN) < ENDS_WITHIN
    kept.quiet_for(2)  # the same member's stream on a token still valid: checked again, and kept
    status, _, _ = server.request(
        f"acme.{settings.BASE_DOMAIN}", "/api/me/", {"Authorization": f"Bearer {raw}"}
    )
    assert status == 401


# --- the rules, without a server


def test_an_overflowing_inbox_drops_events_but_never_a_revocation():
    inbox = Subscription("org_acme", limit=2)
    inbox.push([Revoked(7)])
    inbox.push([event(id=n) for n in range(1, 4)])
    items = async_to_sync(inbox.get)()
    assert items == [Skipped(3), Revoked(7)]


def stream_until(monkeypatch, live: list, allowed: bool, member: int = REP) -> tuple[bool, list[int]]:
    """Run `_stream` for an admin (id REP) over `live`; whether it ended, and whose credentials it checked."""
    checked: list[int] = []

    async def replay(organization, fn, *, after_id, limit):
        return Replay(events=[], position=after_id or 0)

    async def still_allowed() -> bool:
        checked.append(member)
        return allowed

    monkeypatch.setattr(views, "in_organization", replay)

    async def read() -> bool:
        listener = FakeListener(asyncio.get_running_loop(), live)
        stream = views._stream(
            listener=listener,
            organization=Organization(schema_name="org_acme", slug="acme"),
            viewer=viewer(Role.ADMIN),
            last_event_id=3,
            still_allowed=still_allowed,
        )
        try:
            for _ in range(3):
                await asyncio.wait_for(stream.__anext__(), 0.5)
        except StopAsyncIteration:
            return True
        except TimeoutError:
            return False
        finally:
            await stream.aclose()
        return False

    return async_to_sync(read)(), checked


def test_a_revocation_of_the_viewer_ends_the_stream_once_its_credentials_fail(monkeypatch):
    assert stream_until(monkeypatch, [Revoked(REP)], allowed=False) == (True, [REP])


def test_a_revocation_of_the_viewer_whose_credentials_still_hold_goes_on(monkeypatch):
    assert stream_until(monkeypatch, [Revoked(REP), event(id=4)], allowed=True) == (False, [REP])


def test_a_revocation_of_another_member_is_not_checked(monkeypatch):
    assert stream_until(monkeypatch, [Revoked(OTHER)], allowed=False) == (False, [])
