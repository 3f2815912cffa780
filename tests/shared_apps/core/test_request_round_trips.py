"""What a warm API request costs in Redis round trips, counted on the real client's connections: none. The
route, the credentials generation, the plan's limits and the small entries pages read are the process's
copies (shared_apps.core.nearcache), the plan counter is counted in the process and sent behind, and so are
the usage counts. Changes reach the copies at once (tests/shared_apps/core/test_nearcache.py for another
process's)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from redis.connection import AbstractConnection

from shared_apps.organizations import usage
from shared_apps.organizations.models import OrganizationStatus
from shared_apps.users.credentials_cache import credentials_changed
from shared_apps.users.models import AuthToken, Role
from tests.conftest import client_for

WARM_ROUND_TRIPS = 0


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], Any]], tuple[int, Any]]:
    """round_trips(fn) -> (how many commands or pipelines fn sent to Redis, fn's value). Only the calling
    thread's are counted (the test client's requests run on it): the process's background senders (the
    plan counts, the usage counts, the cache invalidation listener) are not on any request's path."""
    sent: list[bytes] = []
    real = AbstractConnection.send_packed_command
    caller = threading.get_ident()

    def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        if threading.get_ident() == caller:
            sent.append(command)
        real(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)

    def count(fn: Callable[[], Any]) -> tuple[int, Any]:
        sent.clear()
        value = fn()
        return len(sent), value

    return count


@pytest.fixture
def key_client(api: Callable[..., Any], org: Any) -> Iterator[Any]:
    admin = api(Role.ADMIN)
    raw = admin.post("/api/api-keys/", {"name": "k", "scope": "read"}, format="json").json()["key"]
    client = client_for(org)
    client.credentials(HTTP_X_API_KEY=raw)
    yield client


def _warm(client: Any, path: str = "/api/leads/") -> None:
    for _ in range(3):
        assert client.get(path).status_code == 200


def test_a_warm_token_request_makes_no_redis_round_trip(api, round_trips):
    client = api(Role.REP)
    _warm(client)
    for _ in range(3):
        trips, response = round_trips(lambda: client.get("/api/leads/"))
        assert response.status_code == 200
        assert trips == WARM_ROUND_TRIPS


def test_a_warm_api_key_request_makes_no_redis_round_trip(key_client, round_trips):
    _warm(key_client)
    trips, response = round_trips(lambda: key_client.get("/api/leads/"))
    assert response.status_code == 200
    assert trips == WARM_ROUND_TRIPS


def test_the_process_copy_of_a_credential_is_refused_once_it_is_revoked(api, round_trips):
    client = api(Role.REP)
    _warm(client, "/api/me/")
    trips, _ = round_trips(lambda: client.get("/api/me/"))
    assert trips == 0  # the credential, its generation and the route are the process's copies
    assert client.post("/api/auth/sign-out/").status_code == 204
    assert client.get("/api/me/").status_code == 401


def test_a_suspended_organization_is_refused_at_the_next_request(api, org, round_trips):
    client = api(Role.ADMIN)
    _warm(client)
    org.status = OrganizationStatus.SUSPENDED
    org.save()
    response = client.get("/api/leads/")
    assert response.status_code == 403
    assert response.json()["code"] == "organization_suspended"


def test_a_generation_raised_elsewhere_reaches_the_process_copy(api, org, member, round_trips):
    """Another process's change raises the generation in Redis only; this process's copy must yield."""
    user = member(role=Role.VIEWER)
    client = client_for(org, user)
    _warm(client, "/api/me/")
    with schema_context(org.schema_name):
        type(user).objects.filter(pk=user.pk).update(role=Role.MANAGER)  # no signal: nothing invalidated
        assert client.get("/api/me/").json()["role"] == Role.VIEWER  # the copy, as it should be until told
        credentials_changed()
    assert client.get("/api/me/").json()["role"] == Role.MANAGER


def test_request_counts_ride_later_requests_and_are_all_counted(api, org, round_trips):
    client = api(Role.ADMIN)
    before = usage.requests_counted(org.pk)["total"]
    for _ in range(5):
        client.get("/api/leads/")
    client.get("/api/leads/999999/")  # a 404
    counted = usage.requests_counted(org.pk)
    assert counted["total"] - before == 6
    assert counted["4xx"] >= 1


def test_a_warm_list_page_of_leads_reads_labels_and_definitions_from_the_process(api, round_trips):
    """The stage labels and the lead fields' definitions a list page shows are the process's copies."""
    client = api(Role.ADMIN)
    field = {"record_type": "lead", "type": "text", "label": "Region", "key": "region"}
    assert client.post("/api/custom-fields/", field, format="json").status_code == 201
    for index in range(3):
        assert client.post("/api/leads/", {"name": f"Listed {index}"}, format="json").status_code == 201
    _warm(client)
    trips, response = round_trips(lambda: client.get("/api/leads/"))
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    assert response.json()["results"][0]["stage_label"] == "New"
    assert trips == WARM_ROUND_TRIPS


def test_a_warm_lead_create_reads_what_listens_from_the_process(
    api, round_trips, django_capture_on_commit_callbacks
):
    """Which events webhooks and automation rules listen to (their generations and the values under them),
    the plan's limits, the stage labels: the process's copies. Left after the commit: the analytics
    invalidation and refresh claim, in one."""
    client = api(Role.ADMIN)

    def create(name: str) -> Any:
        with django_capture_on_commit_callbacks(execute=True):  # what follows the commit, as in a request
            return client.post("/api/leads/", {"name": name}, format="json")

    for index in range(3):
        assert create(f"Warm {index}").status_code == 201
    trips, response = round_trips(lambda: create("Counted"))
    assert response.status_code == 201
    assert trips == WARM_ROUND_TRIPS + 1


def test_a_request_that_changes_the_labels_answers_with_its_own_change(api):
    client = api(Role.ADMIN)
    assert client.post("/api/leads/", {"name": "Renamed"}, format="json").status_code == 201
    _warm(client)
    response = client.patch("/api/settings/lead-stages/", {"labels": {"NEW": "Fresh"}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["labels"]["NEW"] == "Fresh"  # read after its own change, not the old copy
    assert client.get("/api/leads/").json()["results"][0]["stage_label"] == "Fresh"


@pytest.fixture
def five_a_minute(settings: Any, org: Any) -> None:
    settings.THROTTLE_RATES_BY_PLAN = {**settings.THROTTLE_RATES_BY_PLAN, org.plan: "5/min"}


def test_requests_without_the_plan_throttle_are_not_counted(api, five_a_minute):
    """/api/me/ has no plan throttle: its requests never count against the plan."""
    client = api(Role.REP)
    assert [client.get("/api/leads/").status_code for _ in range(2)] == [200, 200]
    assert all(client.get("/api/me/").status_code == 200 for _ in range(10))
    assert [client.get("/api/leads/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_requests_refused_before_the_throttle_are_not_counted(org, member, five_a_minute):
    """The process's copy names the token's member, but the token has expired: each request is refused by
    authentication (before any throttle), and none counts against the member's plan limit."""
    user = member(role=Role.REP)
    client = client_for(org, user)
    assert client.get("/api/leads/").status_code == 200
    with schema_context(org.schema_name):
        AuthToken.objects.filter(user=user).update(expires_at=timezone.now())
        credentials_changed()
    assert [client.get("/api/leads/").status_code for _ in range(5)] == [401] * 5
    fresh = client_for(org, user)
    assert [fresh.get("/api/leads/").status_code for _ in range(5)] == [200, 200, 200, 200, 429]
