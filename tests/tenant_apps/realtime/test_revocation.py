"""An open stream ends within seconds of its member being deactivated or its token being revoked, not at
its next reconnection; other members' streams go on."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from shared_apps.users.models import AuthToken, Role, User, token_digest
from shared_apps.users.services import member_set_active, token_issue, token_revoke
from tests.conftest import PASSWORD
from tests.tenant_apps.realtime.conftest import ACME, Stream, in_schema

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
