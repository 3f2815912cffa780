"""Under load, no 500s: a uvicorn process (as `make up` runs it) with a small database pool and a small Redis
pool answers a burst of concurrent requests with 200 or 503 + Retry-After, holds no more database
connections than its pool allows, keeps SSE streams open without a connection each, and answers 503 (JSON,
Retry-After) when its database refuses connections, with or without the pool."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings

from shared_apps.organizations.routing import organization_for_host
from shared_apps.users.models import AuthToken
from shared_apps.users.services import token_issue
from tests.conftest import PASSWORD
from tests.tenant_apps.realtime.conftest import (
    ACME,
    Server,
    Stream,
    committed,
    database_url,
    in_schema,
    uvicorn_server,
)

# the tests' own transaction sees none of the servers' rows; what the servers read is committed (`committed`)
pytestmark = pytest.mark.django_db

APPLICATION_NAME = "lp-load-test-web"
LISTENER = "leadpulse-realtime-listener"
ACME_HOST = f"acme.{settings.BASE_DOMAIN}"
BURST = 200
POOL_MAX = 2


@contextmanager
def uvicorn(**env: str) -> Iterator[Server]:
    """A uvicorn process on the test database, its connections named APPLICATION_NAME, `env` added."""
    probe = (settings.BASE_DOMAIN, "/healthz")  # answers without the database
    with uvicorn_server(probe, **{"DATABASE_URL": database_url(APPLICATION_NAME), **env}) as server:
        yield server


def server_connections(name: str = APPLICATION_NAME) -> int:
    """The server's database connections (its pool's), or its listener's for name=LISTENER."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            [settings.DATABASES["default"]["NAME"], name],
        )
        return int(cursor.fetchone()[0])


@pytest.fixture(scope="module")
def token(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    with django_db_blocker.unblock():
        raw, issued = in_schema(ACME, token_issue, email="admin@acme.test", password=PASSWORD)
        try:
            yield raw
        finally:
            in_schema(ACME, lambda: AuthToken.objects.filter(pk=issued.pk).delete())


def get(server: Server, path: str, token: str | None = None, host: str = ACME_HOST) -> tuple[int, dict, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("GET", path, headers={"Host": host, **headers})
        response = conn.getresponse()
        body = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, json.loads(body) if body else None
    finally:
        conn.close()


def assert_unavailable(status: int, headers: dict, body: Any, reason: str | None = None) -> None:
    assert status == 503, (status, body)
    assert int(headers.get("retry-after", 0)) > 0, (headers, body)
    assert body["code"] == "service_unavailable", body
    if reason is not None:
        assert body["details"]["reason"] == reason, body


def burst(server: Server, token: str) -> list[tuple[int, dict, Any]]:
    """BURST requests for the lead list at once (after one to warm: the route cached, the pool open)."""
    assert get(server, "/api/leads/", token)[0] == 200
    start = threading.Barrier(BURST)

    def one(_: int) -> tuple[int, dict, Any]:
        start.wait()
        return get(server, "/api/leads/", token)

    with ThreadPoolExecutor(BURST) as pool:
        return list(pool.map(one, range(BURST)))


def test_a_burst_beyond_the_pools_gets_200_or_503_never_500_and_holds_at_most_the_pool(
    django_db_blocker, token
):
    peak, done = [0], threading.Event()

    def watch() -> None:
        with django_db_blocker.unblock():
            while not done.is_set():
                peak[0] = max(peak[0], committed(server_connections))
                time.sleep(0.02)

    with uvicorn(
        REQUEST_CONCURRENCY="0",  # every request straight into Django: the pools alone bound it
        DB_POOL_MIN_SIZE="1",
        DB_POOL_MAX_SIZE=str(POOL_MAX),
        DB_POOL_TIMEOUT="0.3",
        REDIS_POOL_MAX_CONNECTIONS="4",
        REDIS_POOL_TIMEOUT="0.3",
    ) as server:
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            results = burst(server, token)
        finally:
            done.set()
            watcher.join()

    statuses = sorted({status for status, _, _ in results})
    assert set(statuses) <= {200, 503}, statuses
    assert any(status == 200 for status, _, _ in results)
    for status, headers, body in results:
        if status == 503:
            assert_unavailable(status, headers, body)
    assert 1 <= peak[0] <= POOL_MAX, peak


def test_past_the_concurrency_limit_requests_wait_their_turn_instead_of_failing(token):
    """Two requests inside Django at a time, as many connections in the pool: the other 198 wait on the
    event loop, then all are answered."""
    with uvicorn(
        REQUEST_CONCURRENCY=str(POOL_MAX), DB_POOL_MAX_SIZE=str(POOL_MAX), DB_POOL_TIMEOUT="5"
    ) as server:
        results = burst(server, token)
    assert [status for status, _, _ in results] == [200] * BURST


def test_a_request_that_waits_past_the_queue_timeout_gets_503(token):
    with uvicorn(REQUEST_CONCURRENCY="1", REQUEST_QUEUE_TIMEOUT="0.01") as server:
        results = burst(server, token)
    assert {status for status, _, _ in results} == {200, 503}
    for status, headers, body in results:
        if status == 503:
            assert_unavailable(status, headers, body, reason="busy")


@pytest.mark.parametrize("pool", ["1", "0"], ids=["pool", "no-pool"])
def test_a_database_that_refuses_connections_gives_503_with_retry_after(django_db_blocker, token, pool):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgres://postgres@127.0.0.1:{port}/nowhere?connect_timeout=2"
    with django_db_blocker.unblock():
        organization_for_host(ACME_HOST)  # cached: the server reaches the API view before the database
        with uvicorn(DATABASE_URL=url, DB_POOL=pool, DB_POOL_TIMEOUT="0.5") as server:
            # in a DRF view (authentication reads the token): the API's exception handler
            assert_unavailable(*get(server, "/api/leads/", token), reason="database")
            # in the routing middleware (an unknown host is looked up in the database): handler500
            unknown = f"nosuch{pool}.{settings.BASE_DOMAIN}"
            assert_unavailable(*get(server, "/api/leads/", token, host=unknown), reason="database")
            assert get(server, "/healthz", host=settings.BASE_DOMAIN)[0] == 200


def test_open_streams_hold_no_database_connection_each(django_db_blocker, token):
    streams = 30  # far more than the pool and the streams' query threads
    with (
        django_db_blocker.unblock(),
        uvicorn(
            DB_POOL_MIN_SIZE="1",
            DB_POOL_MAX_SIZE=str(POOL_MAX),
            DB_POOL_TIMEOUT="5",
            REALTIME_DB_THREADS="1",
            REQUEST_CONCURRENCY="1",  # an open stream gives its place back once its headers are sent
        ) as server,
    ):
        opened = [Stream(server, ACME_HOST, {"Authorization": f"Bearer {token}"}) for _ in range(streams)]
        try:
            for stream in opened:
                assert stream.status == 200
                stream.until_ready()
            # every stream is open and idle: the process holds its pool (at most POOL_MAX) and one listener
            assert committed(server_connections) <= POOL_MAX
            assert committed(server_connections, LISTENER) >= 1
            # and the pool is free for ordinary requests
            assert get(server, "/api/leads/", token)[0] == 200
            for stream in opened:
                stream.quiet_for(1)  # still streaming (a heartbeat each)
        finally:
            for stream in opened:
                stream.close()
