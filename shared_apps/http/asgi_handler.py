"""Django's ASGI handler, with a request's synchronous part run in one hop on a reused thread.

Django's own ASGIHandler loads the middleware in async mode. Ours is all synchronous, so Django adapts each
request twice over: the middleware runs in a thread (sync_to_async), the handler under it is called back on
the event loop (async_to_sync), and the view is sent to the thread again (sync_to_async), four hand-overs
between the loop and the thread per request, each waking the other side. And the thread is new for every
request: asgiref's ThreadSensitiveContext, which Django enters per request, starts a one-thread executor
and shuts it down when the response ends.

Here the middleware is loaded in sync mode, as under WSGI, and the request_started signal, the request's
creation and the whole chain (middleware, view) run in one call on the request's thread; the request's other
synchronous moments (closing the response, a streamed body's steps) run on that same thread, as before,
because the request's thread-sensitive context is pinned to it. The threads come from a pool of one-thread
executors that are kept between requests (at most REQUEST_CONCURRENCY idle, the requests the admission limit
lets into Django at once; a stream or a burst past it gets new ones, shut down when they come back to a full
pool).

A streamed response that waits for a long time (the live-update streams) gives its thread back once its
headers are sent (`release_request_thread`): the executor returns to the pool as soon as the request's
current call on it has finished, and any later synchronous moment of that request gets a thread of its own,
as asgiref gives it.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.urls import set_script_prefix


class ThreadPool:
    """One-thread executors, reused across requests. Used from the event loop's thread only."""

    def __init__(self, keep_idle: int) -> None:
        self.keep_idle = keep_idle
        self._idle: list[ThreadPoolExecutor] = []
        self._ours: set[ThreadPoolExecutor] = set()

    def take(self) -> ThreadPoolExecutor:
        if self._idle:
            return self._idle.pop()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
        self._ours.add(executor)
        return executor

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self._idle) < self.keep_idle:
            self._idle.append(executor)
        else:
            self._ours.discard(executor)
            executor.shutdown(wait=False)

    def give_back_when_free(self, executor: ThreadPoolExecutor) -> None:
        """Back to the pool once the calls already submitted to it have run (called on the loop)."""
        loop = asyncio.get_running_loop()

        def done(_: Future[None]) -> None:
            loop.call_soon_threadsafe(self.give_back, executor)

        executor.submit(lambda: None).add_done_callback(done)

    def owns(self, executor: Any) -> bool:
        return executor in self._ours

    @property
    def idle(self) -> int:
        return len(self._idle)


class OneHopASGIHandler(ASGIHandler):
    def __init__(self, keep_idle: int) -> None:
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.threads = ThreadPool(keep_idle)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.threads.take()
        async with ThreadSensitiveContext() as context:
            if context.token is None:  # inside another thread-sensitive context (tests): that one's thread
                self.threads.give_back(executor)
                await self.handle(scope, receive, send)
                return
            SyncToAsync.context_to_thread_executor[context] = executor
            try:
                await self.handle(scope, receive, send)
            finally:
                if SyncToAsync.context_to_thread_executor.get(context) is executor:
                    del SyncToAsync.context_to_thread_executor[context]
                    self.threads.give_back(executor)
                # else: released to the pool by release_request_thread(); a later executor asgiref made for
                # this context is shut down when the context exits

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # the request's thread-sensitive context routes this to the request's thread
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Django's ASGIHandler.handle (5.2), with the request_started signal, the request's creation and
        the whole chain in one hand-over to the request's thread (Django sends the signal in a hand-over
        of its own first). Disconnects are listened for, and answered, as Django does."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))

        async def process_request() -> HttpResponseBase:
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            with contextlib.suppress(asyncio.CancelledError):  # the client left during send_response
                await self.send_response(response, send)
            return response

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request()),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response: Any = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await sync_to_async(response.close, thread_sensitive=True)()
        body_file.close()

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            return error_response
        response = self.get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response


_handler: OneHopASGIHandler | None = None


def get_asgi_application() -> OneHopASGIHandler:
    """Like django.core.asgi.get_asgi_application, with this module's handler."""
    global _handler
    import django

    django.setup(set_prefix=False)
    from django.conf import settings

    _handler = OneHopASGIHandler(settings.REQUEST_CONCURRENCY or 20)
    return _handler


def release_request_thread() -> None:
    """For a response that will wait long after its headers: the request's thread goes back to the pool as
    soon as the call running on it returns (outside this module's handler, the thread asgiref made for the
    request is shut down). Call it on the event loop, from the request's own context."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is None or getattr(context, "_executor", None) is not None:
        return  # not in a request, or in a context that owns its executor
    executor = SyncToAsync.context_to_thread_executor.pop(context, None)
    if executor is None:
        return
    if _handler is not None and isinstance(executor, ThreadPoolExecutor) and _handler.threads.owns(executor):
        _handler.threads.give_back_when_free(executor)
    else:
        executor.shutdown(wait=False)
