"""config.asgi's handler: a request's synchronous part runs in one hand-over, on a thread reused across
requests, and every synchronous moment of one request (request_started, middleware and view, closing the
response) runs on that request's thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connections

from shared_apps.http import asgi_handler
from shared_apps.http.asgi_handler import OneHopASGIHandler, ThreadPool

pytestmark = pytest.mark.django_db


def _scope(path: str = "/healthz") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", settings.BASE_DOMAIN.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(handler: OneHopASGIHandler, path: str = "/healthz") -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []
    received = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not received.is_set():
            received.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await handler(_scope(path), receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def _close_threads(handler: OneHopASGIHandler) -> None:
    """Each pooled thread closes its database connections (the test database is dropped later)."""
    for executor in list(handler.threads._idle):
        executor.submit(connections.close_all).result()
        executor.shutdown(wait=True)
    handler.threads._idle.clear()


@pytest.fixture
def handler() -> Iterator[OneHopASGIHandler]:
    made = OneHopASGIHandler(keep_idle=4)
    try:
        yield made
    finally:
        _close_threads(made)


@pytest.fixture
def threads_seen() -> Iterator[list[tuple[str, int]]]:
    seen: list[tuple[str, int]] = []

    def started(**kwargs: Any) -> None:
        seen.append(("started", threading.get_ident()))

    def finished(**kwargs: Any) -> None:
        seen.append(("finished", threading.get_ident()))

    request_started.connect(started, dispatch_uid="test-asgi-started")
    request_finished.connect(finished, dispatch_uid="test-asgi-finished")
    try:
        yield seen
    finally:
        request_started.disconnect(dispatch_uid="test-asgi-started")
        request_finished.disconnect(dispatch_uid="test-asgi-finished")


def test_the_middleware_is_loaded_synchronous_so_a_request_is_one_hand_over(handler):
    # Django's own ASGI handler loads it in async mode: the chain is a coroutine function and a synchronous
    # stack goes loop -> thread -> loop -> thread for every request
    assert not asyncio.iscoroutinefunction(handler._middleware_chain)


def test_a_request_is_served_and_its_moments_run_on_one_thread(handler, threads_seen):
    status, body = asyncio.run(_call(handler))
    assert (status, body) == (200, b'{"status": "ok"}')
    assert [name for name, _ in threads_seen] == ["started", "finished"]
    assert len({ident for _, ident in threads_seen}) == 1
    assert threads_seen[0][1] != threading.get_ident()  # not on the event loop's thread


def test_the_thread_is_reused_by_the_next_request(handler):
    marker = threading.local()
    found: list[bool] = []

    def started(**kwargs: Any) -> None:
        found.append(getattr(marker, "set", False))
        marker.set = True

    request_started.connect(started, dispatch_uid="test-asgi-reuse")
    try:

        async def three() -> None:
            for _ in range(3):
                assert (await _call(handler))[0] == 200

        asyncio.run(three())
    finally:
        request_started.disconnect(dispatch_uid="test-asgi-reuse")
    # a new thread per request (Django's handler, asgiref's ThreadSensitiveContext) would never see it
    assert found == [False, True, True]
    assert handler.threads.idle == 1


def test_concurrent_requests_get_threads_of_their_own_and_errors_still_answer(handler):
    async def many() -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(_call(handler) for _ in range(6)), _call(handler, "/no-such-page"))

    answers = asyncio.run(many())
    assert [status for status, _ in answers] == [200] * 6 + [404]
    assert handler.threads.idle <= 4  # the pool keeps at most keep_idle of the threads the burst needed


def test_the_pool_keeps_at_most_keep_idle_and_shuts_the_others_down():
    pool = ThreadPool(keep_idle=1)
    first, second = pool.take(), pool.take()
    assert first is not second and pool.owns(first) and pool.owns(second)
    pool.give_back(first)
    pool.give_back(second)
    assert pool.idle == 1 and pool.take() is first
    assert not pool.owns(second)
    with pytest.raises(RuntimeError):  # shut down
        second.submit(lambda: None)
    first.shutdown()


def test_a_released_thread_returns_to_the_pool_only_once_its_current_call_has_returned():
    pool = ThreadPool(keep_idle=2)
    executor = pool.take()
    gate = threading.Event()

    async def scenario() -> tuple[int, int]:
        running = asyncio.get_running_loop().run_in_executor(executor, gate.wait)
        pool.give_back_when_free(executor)
        await asyncio.sleep(0.05)
        while_busy = pool.idle
        gate.set()
        await running
        deadline = time.monotonic() + 5
        while pool.idle == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return while_busy, pool.idle

    assert asyncio.run(scenario()) == (0, 1)
    executor.shutdown()


def test_release_request_thread_leaves_an_executor_the_caller_owns(monkeypatch):
    from asgiref.sync import SyncToAsync, ThreadSensitiveContext

    owned = ThreadPoolExecutor(max_workers=1)

    async def scenario() -> bool:
        async with ThreadSensitiveContext(executor=owned) as context:
            asgi_handler.release_request_thread()
            return SyncToAsync.context_to_thread_executor.get(context) is owned

    try:
        assert asyncio.run(scenario())
    finally:
        owned.shutdown()


class _CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        self.submitted += 1
        return super().submit(*args, **kwargs)


def test_a_request_is_two_hand_overs_one_to_respond_one_to_close(handler):
    counting = _CountingExecutor()
    handler.threads._ours.add(counting)
    handler.threads._idle.append(counting)
    assert asyncio.run(_call(handler))[0] == 200
    # Django's handler: the request_started signal, the middleware, the view (and the handler between
    # them, back on the loop), then the close
    assert counting.submitted == 2
