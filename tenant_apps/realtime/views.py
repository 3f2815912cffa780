"""GET /api/pipeline/stream: the organization's committed changes, as server-sent events.

    curl -N http://acme.localhost:8000/api/pipeline/stream -H "Authorization: Bearer lpt_…"

For a member signed in with a bearer token, an API key covering `pipeline`, or the web app's session. Frames:

    retry: 3000                          first, with a `: connected` comment
    id: 42                               one per event, in commit order; ids increase per organization
    event: lead.stage_changed            the topic: lead.created | lead.stage_changed | lead.updated |
    data: {"id": 42, "topic": …,           lead.owner_changed | lead.deleted | lead.restored | lead.purged |
           "record_id": 7, "actor_id": 3,  lead.merged | lead.converted | other lead.* | import.progress |
           "owner_id": 5,                  notification.*
           "data": {"from": "NEW", "to": "CONTACTED"}, "occurred_at": "…Z"}
    id: 42 / event: ready                once the replay is done: {"last_event_id": 42}, live from here
    id: 97 / event: reset                {"reason", "last_event_id"}: events were missed and will not be
                                         sent (pruned, more than REALTIME_REPLAY_LIMIT behind, an unknown
                                         id, or more than REALTIME_QUEUE_LIMIT waiting): reload, then go on
    : heartbeat                          a comment every REALTIME_HEARTBEAT_SECONDS (15) when idle

Resuming: the `Last-Event-ID` header (sent by EventSource on reconnection) or `?last_event_id=` replays the
events after that id from the log, then continues live, without gaps or duplicates: the stream subscribes
first, replays second and drops live events it already sent. Without either, it starts live.

Each stream is an async generator waiting on an in-process inbox fed by the process's one listener
(listener.py); it holds no database connection while it waits, and meanwhile the listener writes its
member's frames to the client itself (direct_writer), waking the stream only for the rest. Streams end
after about REALTIME_STREAM_MAX_SECONDS, and the client reconnects with its Last-Event-ID, so credentials
are checked again; sooner when the member is deactivated or loses a token (the listener's `Revoked`):
the stream checks its credentials at once and ends if they no longer hold (the reconnection is then
refused). What a member is sent is decided by selectors.visible_to.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.request import Request

from shared_apps.core.errors import json_error
from shared_apps.http.asgi_handler import release_request_thread
from shared_apps.http.direct_send import SEND_SCOPE_KEY, Send, body_writer
from shared_apps.http.permissions import RolePermission
from shared_apps.organizations.context import Organization
from shared_apps.users.apikeys import ApiKeyAuthentication
from shared_apps.users.authentication import BearerTokenAuthentication
from shared_apps.users.models import Role
from tenant_apps.realtime import conf, selectors
from tenant_apps.realtime.db import in_organization
from tenant_apps.realtime.events import HEARTBEAT, frame
from tenant_apps.realtime.listener import (
    Delivery,
    Listener,
    Revoked,
    Signal,
    Skipped,
    Writer,
    get_listener,
)
from tenant_apps.realtime.selectors import Replay, Viewer, visible_to

RETRY_MILLISECONDS = 3000
MAX_EVENT_ID = 2**63 - 1


class _StreamScope:
    """What RolePermission reads from a view: any member may read; an API key must cover `pipeline`."""

    resource = "pipeline"
    read_role = Role.VIEWER
    write_role = Role.ADMIN


class _Refused(Exception):
    def __init__(self, response: JsonResponse) -> None:
        self.response = response


def _authenticate(request: HttpRequest, *, reps_see_all_leads: bool) -> Viewer:
    """The member behind the request: bearer token or API key (the API's own authentication classes),
    else the session. Runs in a database thread, inside the organization's schema."""
    session_user = request.user  # lazy (AuthenticationMiddleware); DRF's Request replaces request.user
    drf_request = Request(request, authenticators=[BearerTokenAuthentication(), ApiKeyAuthentication()])
    try:
        user = drf_request.user
        if not user.is_authenticated:
            drf_request.user = user = session_user
        if not (user.is_authenticated and user.is_active):
            raise exceptions.NotAuthenticated()
        permission = RolePermission()
        if not permission.has_permission(drf_request, _StreamScope()):
            raise exceptions.PermissionDenied(permission.message)
    except exceptions.APIException as exc:
        codes = exc.get_codes()
        response = json_error(
            exc.status_code, codes if isinstance(codes, str) else exc.default_code, str(exc.detail)
        )
        if exc.status_code == 401:
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        raise _Refused(response) from None
    return Viewer.of(user, reps_see_all_leads=reps_see_all_leads)


def _reauthenticate(request: HttpRequest, *, reps_see_all_leads: bool) -> Viewer:
    """_authenticate again, the session's member read afresh (AuthenticationMiddleware caches it)."""
    if hasattr(request, "session"):
        request.__dict__.pop("_cached_user", None)
        request.user = SimpleLazyObject(lambda: get_user(request))  # type: ignore[assignment]
    return _authenticate(request, reps_see_all_leads=reps_see_all_leads)


def _last_event_id(request: HttpRequest) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or ""
    raw = raw.strip()
    if not raw:
        return None
    # (the length first: int() refuses strings of thousands of digits with an error of its own)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > MAX_EVENT_ID:
        raise _Refused(
            JsonResponse(
                {
                    "code": "invalid",
                    "message": "Invalid input.",
                    "details": {},
                    "errors": {"last_event_id": ["An event id (a non-negative integer) is required."]},
                },
                status=400,
            )
        )
    return int(raw)


@csrf_exempt  # it reads only; any other method gets a 405 (not a CSRF failure)
async def pipeline_stream(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    if request.method != "GET":
        response = json_error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
        response["Allow"] = "GET"
        return response
    organization = request.tenant  # type: ignore[attr-defined]
    asgi = isinstance(request, ASGIRequest)
    try:
        viewer = await in_organization(
            organization,
            _authenticate,
            request,
            reps_see_all_leads=organization.reps_see_all_leads,
            request_thread=not asgi,
        )
        last_event_id = _last_event_id(request)
    except _Refused as refused:
        return refused.response
    if not asgi:
        # under WSGI (runserver) Django would buffer the endless stream and hold a worker forever
        return json_error(501, "asgi_required", "Live updates need the ASGI server (uvicorn, `make up`).")
    listener = get_listener(organization.database)
    if not await listener.wait_ready(conf.value("REALTIME_LISTEN_TIMEOUT_SECONDS")):
        response = json_error(503, "stream_unavailable", "Live updates are unavailable; retry shortly.")
        response["Retry-After"] = "5"
        return response

    async def still_allowed() -> bool:
        try:
            await in_organization(
                organization,
                _reauthenticate,
                request,
                reps_see_all_leads=organization.reps_see_all_leads,
            )
        except _Refused:
            return False
        return True

    # The request's own thread may hold a connection (the host lookup, on a cache miss): a stream may stay
    # open for hours and must not keep it.
    await sync_to_async(connections.close_all)()
    stream = StreamingHttpResponse(
        _stream(
            listener=listener,
            organization=organization,
            viewer=viewer,
            last_event_id=last_event_id,
            still_allowed=still_allowed,
            writer=direct_writer(
                request.scope.get(SEND_SCOPE_KEY) if isinstance(request, ASGIRequest) else None
            ),
        ),
        content_type="text/event-stream",
    )
    stream["Cache-Control"] = "no-cache"
    stream["X-Accel-Buffering"] = "no"  # nginx: pass each frame on at once
    return stream


async def _stream(
    *,
    listener: Listener,
    organization: Organization,
    viewer: Viewer,
    last_event_id: int | None,
    still_allowed: Callable[[], Awaitable[bool]] | None = None,
    writer: Writer | None = None,
) -> AsyncIterator[bytes]:
    still_allowed = still_allowed or _allowed
    # before reading the log: nothing committed in between is lost
    subscription = listener.subscribe(organization.schema_name, viewer)
    _release_request_thread()
    try:
        limit = int(conf.value("REALTIME_REPLAY_LIMIT"))
        replay = await in_organization(
            organization, selectors.events_after, after_id=last_event_id, limit=limit
        )
        chunks = [f"retry: {RETRY_MILLISECONDS}\n: connected\n\n".encode(), *_replayed(replay, viewer)]
        position = replay.position
        chunks.append(frame("ready", {"last_event_id": position}, event_id=position))
        yield b"".join(chunks)

        loop = listener.loop
        deadline = loop.time() + conf.value("REALTIME_STREAM_MAX_SECONDS") * random.uniform(0.9, 1.1)
        while True:
            if writer is not None:  # live deliveries go straight to the client while this task waits
                subscription.go_direct(writer, position)
            items = await subscription.get()
            if writer is not None:
                position = subscription.stop_direct()
            chunks, heartbeat = [], False
            for item in items:
                if item is Signal.HEARTBEAT:
                    heartbeat = True
                elif item is Signal.RESYNC:
                    replay = await in_organization(
                        organization, selectors.events_after, after_id=position, limit=limit
                    )
                    chunks.extend(_replayed(replay, viewer))
                    position = replay.position
                elif isinstance(item, Revoked):
                    if item.member_id == viewer.id and not await still_allowed():
                        if chunks:
                            yield b"".join(chunks)
                        return
                elif isinstance(item, Delivery):
                    if item.first_id > position:  # the usual case: the body is the member's, rendered once
                        if item.body:
                            chunks.append(item.body)
                    elif item.last_id > position:  # overlaps what the replay sent
                        chunks.extend(event.frame for event in item.events if event.id > position)
                    position = max(position, item.last_id)
                elif isinstance(item, Skipped):
                    if item.last_id > position:
                        position = item.last_id
                        chunks.append(_reset("too_far_behind", position))
                elif not isinstance(item, Signal) and item.id > position:
                    position = item.id
                    if visible_to(viewer, item):
                        chunks.append(item.frame)
            if heartbeat and not chunks:
                chunks.append(HEARTBEAT)
            if chunks:
                yield b"".join(chunks)
            if loop.time() > deadline:
                return
    finally:
        listener.unsubscribe(subscription)


def direct_writer(send: Send | None) -> Writer | None:
    """A Writer over the response's ASGI `send` (put in the scope by shared_apps.http.direct_send), or None
    without it (the stream then sends everything through Django's response loop). The listener calls it for
    many streams in one go, so it never waits: a client that is not reading gets False, and its delivery
    goes to the stream's inbox for the stream's own task to send, waiting for that client. How to write is
    decided at the first write, once the response's headers are out."""
    if send is None:
        return None
    chosen: list[Writer] = []

    def write(body: bytes) -> bool:
        if not chosen:
            chosen.append(body_writer(send))
        return chosen[0](body)

    return write


def _release_request_thread() -> None:
    """Let the thread Django's ASGI handler gave this request go: when the body starts the middleware is done
    with it, and this stream's queries run in db.py's small pool. Under config.asgi's handler the thread goes
    back to its pool of request threads; under Django's own, the thread asgiref made for the request is shut
    down (one idle OS thread per open stream otherwise). Django's closing call at the end gets a thread for
    that moment."""
    release_request_thread()


async def _allowed() -> bool:
    return True


def _replayed(replay: Replay, viewer: Viewer) -> list[bytes]:
    chunks = [event.frame for event in replay.events if visible_to(viewer, event)]
    if replay.reset:
        chunks.append(_reset(replay.reset, replay.position))
    return chunks


def _reset(reason: str, position: int) -> bytes:
    return frame("reset", {"reason": reason, "last_event_id": position}, event_id=position)
