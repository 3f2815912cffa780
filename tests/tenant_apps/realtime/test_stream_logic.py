"""The stream's rules without a server: who sees what, how frames look, and the replay/live seam."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role
from tenant_apps.realtime import views
from tenant_apps.realtime.events import StreamEvent
from tenant_apps.realtime.listener import Listener, Signal, Skipped, Subscription
from tenant_apps.realtime.selectors import Replay, Viewer, visible_to

REP, OTHER = 7, 8


def event(topic: str = "lead.updated", *, id: int = 1, owner_id: int | None = None, actor_id=None, **data):
    return StreamEvent(
        id=id,
        topic=topic,
        record_id=100 + id,
        actor_id=actor_id,
        owner_id=owner_id,
        data=data,
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def viewer(role: str = Role.REP, sees_all: bool = False, id: int = REP) -> Viewer:
    return Viewer(id=id, role=role, sees_all_leads=role != Role.REP or sees_all)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.VIEWER])
def test_members_above_rep_see_every_lead_event(role):
    assert visible_to(viewer(role), event(owner_id=OTHER))


def test_a_rep_sees_own_and_unassigned_leads_and_an_owner_change_away():
    rep = viewer()
    assert visible_to(rep, event(owner_id=REP))
    assert visible_to(rep, event(owner_id=None))
    assert not visible_to(rep, event(owner_id=OTHER))
    assert visible_to(rep, event("lead.owner_changed", owner_id=OTHER, **{"from": REP, "to": OTHER}))
    assert not visible_to(rep, event("lead.owner_changed", owner_id=OTHER, **{"from": 99, "to": OTHER}))
    assert visible_to(viewer(sees_all=True), event(owner_id=OTHER))  # the organization lets reps see all


def test_notifications_go_to_their_recipient_and_import_progress_to_its_importer():
    assert visible_to(viewer(Role.ADMIN), event("notification.created", recipient_id=REP))
    assert not visible_to(viewer(Role.ADMIN, id=OTHER), event("notification.created", recipient_id=REP))
    assert visible_to(viewer(), event("import.progress", actor_id=REP, done=1))
    assert visible_to(viewer(), event("import.done", actor_id=REP, imported=10))
    assert not visible_to(viewer(Role.ADMIN, id=OTHER), event("import.progress", actor_id=REP, done=1))
    assert not visible_to(viewer(Role.ADMIN), event("account.created"))


def test_an_event_is_one_frame_whatever_its_data_holds():
    frame = event("lead.updated", id=42, owner_id=3, note="two\nlines\n\nand a blank one").frame
    lines = frame.decode().split("\n")
    assert lines[:2] == ["id: 42", "event: lead.updated"]
    assert lines[2].startswith("data: {") and lines[3:] == ["", ""]
    assert '"occurred_at":"2026-01-02T03:04:05Z"' in lines[2] and '"owner_id":3' in lines[2]


class FakeListener(Listener):
    """A listener that never connects; its one subscription is filled by the test."""

    def __init__(self, loop: Any, items: list[Any]) -> None:
        super().__init__(loop)
        self.subscription = Subscription("org_acme", limit=100)
        self.subscription.push(items)
        self.unsubscribed = False

    def subscribe(self, schema: str, viewer: Viewer | None = None) -> Subscription:
        return self.subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.unsubscribed = True


def run_stream(monkeypatch, replays: list[Replay], live: list[Any], chunks: int, who: Viewer | None = None):
    """Feed `_stream` a replay (then `replays[1:]` on RESYNC) and live items; return its chunks."""
    asked: list[Any] = []

    async def in_organization(organization, fn, *, after_id, limit):
        asked.append(after_id)
        return replays[len(asked) - 1]

    monkeypatch.setattr(views, "in_organization", in_organization)

    async def read() -> tuple[list[bytes], bool, bool]:
        import asyncio

        listener = FakeListener(asyncio.get_running_loop(), live)
        stream = views._stream(
            listener=listener,
            organization=Organization(schema_name="org_acme", slug="acme"),
            viewer=who or viewer(Role.ADMIN),
            last_event_id=3,
        )
        out = []
        ended = False
        try:
            for _ in range(chunks):
                out.append(await asyncio.wait_for(stream.__anext__(), 1))
        except StopAsyncIteration:
            ended = True
        await stream.aclose()
        return out, ended, listener.unsubscribed

    out, ended, unsubscribed = async_to_sync(read)()
    assert unsubscribed  # whatever ends the stream, its inbox goes
    return out, ended, asked


def ids_in(chunk: bytes) -> list[int]:
    return [int(line[4:]) for line in chunk.decode().split("\n") if line.startswith("id: ")]


def test_live_events_already_replayed_are_dropped(monkeypatch):
    # subscribed first: 5 and 6 arrived live while the replay (4, 5, 6) was being read
    replay = Replay(events=[event(id=4), event(id=5), event(id=6)], position=6)
    out, ended, asked = run_stream(monkeypatch, [replay], [event(id=5), event(id=6), event(id=7)], chunks=2)
    assert asked == [3]
    first, live = out
    assert first.startswith(b"retry: 3000\n: connected\n\n")
    assert ids_in(first) == [4, 5, 6, 6]  # the replay, then `ready` at 6
    assert b'event: ready\ndata: {"last_event_id":6}' in first
    assert ids_in(live) == [7] and not ended


def test_a_reset_replaces_an_impossible_replay(monkeypatch):
    out, _, _ = run_stream(monkeypatch, [Replay([], 90, reset="pruned")], [], chunks=1)
    assert b'id: 90\nevent: reset\ndata: {"reason":"pruned","last_event_id":90}' in out[0]


def test_events_hidden_from_the_member_still_move_the_position(monkeypatch):
    rep = viewer()
    live = [event(id=7, owner_id=OTHER), event(id=8, owner_id=REP), event(id=7, owner_id=REP)]
    out, _, _ = run_stream(monkeypatch, [Replay([], 6)], live, chunks=2, who=rep)
    assert ids_in(out[1]) == [8]


def test_a_heartbeat_is_sent_only_when_nothing_else_is(monkeypatch):
    out, _, _ = run_stream(monkeypatch, [Replay([], 6)], [Signal.HEARTBEAT, Signal.HEARTBEAT], chunks=2)
    assert out[1] == b": heartbeat\n\n"
    out, _, _ = run_stream(monkeypatch, [Replay([], 6)], [Signal.HEARTBEAT, event(id=7)], chunks=2)
    assert b"heartbeat" not in out[1] and ids_in(out[1]) == [7]


def test_after_the_listener_reconnects_the_stream_catches_up_from_the_log(monkeypatch):
    replays = [Replay([], 6), Replay([event(id=7), event(id=8)], 8)]
    out, _, asked = run_stream(monkeypatch, replays, [Signal.RESYNC, event(id=8), event(id=9)], chunks=2)
    assert asked == [3, 6]
    assert ids_in(out[1]) == [7, 8, 9]


def test_a_stream_too_far_behind_skips_ahead_and_says_so(monkeypatch):
    subscription = Subscription("org_acme", limit=2)
    subscription.push([event(id=1), event(id=2)])
    subscription.push([event(id=3)])  # one too many: memory stays bounded, the client is told
    assert async_to_sync(subscription.get)() == [Skipped(3)]
    out, ended, _ = run_stream(
        monkeypatch, [Replay([], 6)], [Skipped(9), event(id=8), event(id=10)], chunks=2
    )
    assert ids_in(out[1]) == [9, 10] and not ended
    assert b'id: 9\nevent: reset\ndata: {"reason":"too_far_behind","last_event_id":9}' in out[1]


def test_a_listener_that_cannot_connect_is_not_ready(monkeypatch):
    from tenant_apps.realtime import listener as module

    monkeypatch.setattr(module, "connect_params", lambda: {"host": "127.0.0.1", "port": 1, "dbname": "none"})

    async def try_it() -> bool:
        import asyncio

        listener = Listener(asyncio.get_running_loop())
        try:
            return await listener.wait_ready(0.3)
        finally:
            listener.stop()

    assert async_to_sync(try_it)() is False


def test_under_wsgi_the_stream_refuses_instead_of_buffering_forever(org, other_org, api):
    from tests.conftest import client_for

    # credentials are checked as under ASGI (in the request's thread and transaction here) ...
    assert client_for(org).get("/api/pipeline/stream").status_code == 401
    assert (
        api(organization=other_org)
        .get("/api/pipeline/stream", HTTP_HOST=f"acme.{settings.BASE_DOMAIN}")
        .status_code
        == 401
    )
    # ... then a member is told to use the ASGI server instead of getting a response that never ends
    response = api(Role.VIEWER).get("/api/pipeline/stream")
    assert response.status_code == 501 and response.json()["code"] == "asgi_required"


def test_a_batch_is_decided_once_per_member_and_shared_by_their_streams(monkeypatch):
    import asyncio

    from tenant_apps.realtime import listener as module

    decided: list[tuple[int, int]] = []

    def counting(member: Viewer, item: StreamEvent) -> bool:
        decided.append((member.id, item.id))
        return visible_to(member, item)

    monkeypatch.setattr(module, "visible_to", counting)
    loop = asyncio.new_event_loop()
    try:
        listener = Listener(loop)
        rep, admin = viewer(), viewer(Role.ADMIN, id=OTHER)
        reps = [listener.subscribe("org_acme", rep) for _ in range(3)]
        admins = [listener.subscribe("org_acme", admin) for _ in range(2)]
        elsewhere = listener.subscribe("org_globex", admin)
        events = [event(id=5, owner_id=OTHER), event(id=6, owner_id=REP), event(id=7)]
        listener._fan_out("org_acme", events)
        # three events for two members: six decisions, however many streams each member has open
        assert sorted(decided) == sorted((member, n) for member in (REP, OTHER) for n in (5, 6, 7))
        [delivery] = reps[0]._items
        assert all(subscription._items[0] is delivery for subscription in reps)
        assert (delivery.first_id, delivery.last_id) == (5, 7)
        assert ids_in(delivery.body) == [6, 7]  # the other member's lead is not the rep's
        assert ids_in(admins[1]._items[0].body) == [5, 6, 7]
        assert elsewhere._items == []
        for subscription in [*reps, *admins, elsewhere]:
            listener.unsubscribe(subscription)
        assert listener.stream_count() == 0 and listener._subscriptions == {}
    finally:
        loop.close()


def test_a_delivery_overlapping_the_replay_sends_only_what_is_new(monkeypatch):
    from tenant_apps.realtime.listener import Delivery

    rep = viewer()
    overlapping = Delivery.of([event(id=5), event(id=6), event(id=7, owner_id=REP)], rep)
    hidden_tail = Delivery.of([event(id=8, owner_id=REP), event(id=9, owner_id=OTHER)], rep)
    live = [overlapping, hidden_tail, event(id=9), event(id=10, owner_id=REP)]
    out, _, _ = run_stream(monkeypatch, [Replay([], 6)], live, chunks=2, who=rep)
    # 5 and 6 were replayed; 9 was hidden but moved the position, so its late copy is not sent
    assert ids_in(out[1]) == [7, 8, 10]


def test_an_inbox_counts_the_events_of_its_deliveries_against_its_limit():
    from tenant_apps.realtime.listener import Delivery

    subscription = Subscription("org_acme", limit=3)
    subscription.push([Delivery.of([event(id=1), event(id=2)], None)])
    subscription.push([Delivery.of([event(id=3)], None)])
    assert len(subscription._items) == 2
    subscription.push([Delivery.of([event(id=4)], None)])
    assert async_to_sync(subscription.get)() == [Skipped(4)]


@pytest.mark.parametrize("threshold", [5000, 0])
def test_the_first_stream_keeps_the_loaded_application_out_of_gc_pauses(monkeypatch, settings, threshold):
    import gc

    from tenant_apps.realtime import listener as module

    settings.REALTIME_GC_THRESHOLD = threshold
    monkeypatch.setattr(module, "_gc_tuned", False)
    before = gc.get_threshold()
    gc.unfreeze()
    try:
        module.tune_gc()
        if threshold:
            assert gc.get_threshold() == (threshold, *before[1:])
            assert gc.get_freeze_count() > 10_000  # Django and the application, loaded by now
            module.tune_gc()  # once per process
        else:  # turned off: Python's own
            assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def test_a_waiting_stream_has_its_deliveries_written_directly_in_order_without_waking():
    from tenant_apps.realtime.listener import Delivery

    rep, written = viewer(), []
    subscription = Subscription("org_acme", limit=100, viewer=rep)
    subscription.go_direct(lambda body: written.append(body) or True, position=6)
    subscription.deliver(Delivery.of([event(id=5, owner_id=REP)], rep))  # already sent: left to the stream
    assert written == [] and len(subscription._items) == 1
    subscription._items.clear()
    subscription.deliver(Delivery.of([event(id=7, owner_id=REP), event(id=8, owner_id=OTHER)], rep))
    subscription.deliver(Delivery.of([event(id=9, owner_id=OTHER)], rep))  # hidden: nothing to write
    subscription.deliver(Delivery.of([event(id=10, owner_id=REP)], rep))
    assert [ids_in(body) for body in written] == [[7], [10]]
    assert subscription._items == [] and subscription._waiter is None  # the stream's task never woke
    assert subscription.stop_direct() == 10  # the position moves past hidden events too
    subscription.deliver(Delivery.of([event(id=11, owner_id=REP)], rep))
    assert len(written) == 2 and len(subscription._items) == 1  # detached: to the inbox


def test_a_client_that_is_not_reading_gets_its_deliveries_through_the_inbox_in_order():
    from tenant_apps.realtime.listener import Delivery

    accepting, written = [False], []

    def writer(body: bytes) -> bool:
        if accepting[0]:
            written.append(body)
        return accepting[0]

    subscription = Subscription("org_acme", limit=100)
    subscription.go_direct(writer, position=6)
    subscription.deliver(Delivery.of([event(id=7)], None))  # the client's socket is full
    accepting[0] = True
    subscription.deliver(Delivery.of([event(id=8)], None))  # behind 7: queued, never ahead of it
    assert written == []
    items = async_to_sync(subscription.get)()
    assert [ids_in(item.body) for item in items] == [[7], [8]]
    assert subscription.stop_direct() == 6


def test_the_direct_writer_steps_the_send_once_and_reports_a_send_that_would_wait():
    import asyncio

    sent: list[dict[str, Any]] = []

    async def ready_send(message):
        sent.append(message)

    write = views.direct_writer(ready_send)
    assert write(b"id: 7\n\n") is True
    assert sent == [{"type": "http.response.body", "body": b"id: 7\n\n", "more_body": True}]

    async def blocked_send(message):  # uvicorn waits for a slow client before writing anything
        await asyncio.get_running_loop().create_future()
        sent.append(message)

    async def check() -> bool:
        return views.direct_writer(blocked_send)(b"id: 8\n\n")

    assert async_to_sync(check)() is False
    assert len(sent) == 1  # nothing written, and the unfinished send closed
    assert views.direct_writer(None) is None  # no send in the scope: everything through Django


def test_a_stream_writes_live_events_directly_and_keeps_its_position_for_what_it_sends_itself(monkeypatch):
    import asyncio

    from tenant_apps.realtime.listener import Delivery

    replays = [Replay([], 6), Replay([event(id=10)], 10)]
    asked: list[Any] = []

    async def in_organization(organization, fn, *, after_id, limit):
        asked.append(after_id)
        return replays[len(asked) - 1]

    monkeypatch.setattr(views, "in_organization", in_organization)
    written: list[bytes] = []

    async def read() -> list[bytes]:
        listener = FakeListener(asyncio.get_running_loop(), [])
        stream = views._stream(
            listener=listener,
            organization=Organization(schema_name="org_acme", slug="acme"),
            viewer=viewer(Role.ADMIN),
            last_event_id=None,
            writer=lambda body: written.append(body) or True,
        )
        out = [await stream.__anext__()]  # connected + ready at 6
        pending = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)  # the stream waits, its writer attached
        subscription = listener.subscription
        subscription.deliver(Delivery.of([event(id=7), event(id=8)], None))
        subscription.deliver(Delivery.of([event(id=9)], None))
        assert not pending.done()
        subscription.push([Signal.RESYNC])  # the stream's own work: the replay goes on from 9
        out.append(await asyncio.wait_for(pending, 1))
        await stream.aclose()
        return out

    out = async_to_sync(read)()
    assert [ids_in(body) for body in written] == [[7, 8], [9]]
    assert asked == [None, 9]
    assert ids_in(out[1]) == [10]


def test_a_heartbeat_is_written_to_a_waiting_stream_and_queued_for_a_busy_one():
    from tenant_apps.realtime.events import HEARTBEAT

    written: list[bytes] = []
    waiting = Subscription("org_acme", limit=100)
    waiting.go_direct(lambda body: written.append(body) or True, position=6)
    waiting.beat()
    assert written == [HEARTBEAT] and waiting._items == []
    busy = Subscription("org_acme", limit=100)
    busy.go_direct(lambda body: written.append(body) or True, position=6)
    busy.push([event(id=7)])  # the stream has work waiting: the heartbeat follows it
    busy.beat()
    assert written == [HEARTBEAT] and busy._items[-1] is Signal.HEARTBEAT
    idle = Subscription("org_acme", limit=100)  # no writer (not waiting, or no server send)
    idle.beat()
    assert idle._items == [Signal.HEARTBEAT]
