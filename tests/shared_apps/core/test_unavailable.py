"""A database or Redis that cannot serve now is a 503 with Retry-After and the JSON error shape, never a 500;
every Redis client of a process shares one bounded, blocking pool."""

from __future__ import annotations

import copy
import socket
import threading

import django_rq
import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import connection
from django.db.utils import OperationalError, ProgrammingError
from django_tenants.postgresql_backend.base import DatabaseWrapper

from shared_apps.core.errors import exception_handler, unavailable_reason
from shared_apps.core.redis_pool import SharedBlockingConnectionPool
from tests.conftest import InThread


def _pool() -> SharedBlockingConnectionPool:
    return caches["platform"]._cache._get_connection_pool(write=True)  # type: ignore[attr-defined]


def _refused_database_error() -> OperationalError:
    """What Django raises when the server refuses the connection (a port nothing listens on)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings_dict = copy.deepcopy(connection.settings_dict)
    settings_dict.update(HOST="127.0.0.1", PORT=str(port), CONN_MAX_AGE=0)
    wrapper = DatabaseWrapper(settings_dict, alias="refused")
    try:
        wrapper.ensure_connection()
    except OperationalError as exc:
        return exc
    finally:
        wrapper.close()
    raise AssertionError("the connection was not refused")


def test_a_refused_database_connection_is_a_503_in_the_api(db):
    response = exception_handler(_refused_database_error(), {})
    assert response is not None
    assert response.status_code == 503
    assert response["Retry-After"] == str(django_settings.SERVICE_UNAVAILABLE_RETRY_AFTER)
    assert response.data["code"] == "service_unavailable"
    assert response.data["details"] == {"reason": "database"}


def test_a_wrong_query_is_not_mistaken_for_an_unavailable_database(db):
    with pytest.raises(ProgrammingError) as raised, connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM no_such_table")
    assert unavailable_reason(raised.value) is None
    assert unavailable_reason(ValueError("nope")) is None


def test_every_redis_client_shares_one_bounded_blocking_pool(db):
    pool = _pool()
    assert isinstance(pool, SharedBlockingConnectionPool)
    assert pool.max_connections == django_settings.REDIS_POOL_MAX_CONNECTIONS
    assert caches["default"]._cache._get_connection_pool(write=True) is pool  # type: ignore[attr-defined]
    # another thread (under ASGI: another request) builds its own cache objects, over the same pool
    assert InThread(_pool).join() is pool
    assert django_rq.get_connection("default").connection_pool is pool


def test_a_cache_keeps_one_redis_client_per_pool_and_it_serves_every_thread(db):
    """Django built a redis.Redis per cache operation (~100 µs of constructor each): one per pool now, also
    for the cache objects another thread (under ASGI: another request) builds."""
    cache = caches["default"]
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    assert cache._cache.get_client("any key", write=False) is client  # type: ignore[attr-defined]
    assert client.connection_pool is _pool()

    def round_trip(index: int) -> object:
        cache.set(f"shared-client-{index}", index)
        return cache.get(f"shared-client-{index}")

    assert [InThread(round_trip, index).join() for index in range(4)] == [0, 1, 2, 3]
    assert InThread(lambda: caches["default"]._cache.get_client()).join() is client  # type: ignore[attr-defined]
    assert caches["platform"]._cache.get_client() is client  # type: ignore[attr-defined]  # same URL, same pool


@pytest.fixture
def exhausted(monkeypatch):
    """Every connection of the process's Redis pool checked out; give them back with `release()`."""
    pool = _pool()
    monkeypatch.setattr(pool, "timeout", 0.1)
    held = [pool.get_connection() for _ in range(pool.max_connections)]

    def release(count: int | None = None) -> None:
        while held and (count is None or count > 0):
            pool.release(held.pop())
            count = None if count is None else count - 1

    yield pool, release
    release()


@pytest.mark.parametrize("debug", [False, True], ids=["handler500", "debug"])
def test_a_request_finding_every_redis_connection_busy_past_the_timeout_gets_a_503(
    api, exhausted, settings, debug
):
    """The routing middleware's host lookup fails: Django makes a 500 of it (with DEBUG its HTML page),
    which the middleware near the top of the stack turns into the 503."""
    client = api()
    settings.DEBUG = debug
    client.raise_request_exception = False
    response = client.get("/api/leads/")
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(django_settings.SERVICE_UNAVAILABLE_RETRY_AFTER)
    assert response.json()["code"] == "service_unavailable"
    assert response.json()["details"] == {"reason": "redis"}


def test_a_request_finding_every_redis_connection_busy_waits_for_one(api, exhausted, monkeypatch):
    pool, release = exhausted
    client = api()
    monkeypatch.setattr(pool, "timeout", 5.0)
    threading.Timer(0.3, release, args=(1,)).start()
    assert client.get("/api/leads/").status_code == 200
