"""GET /api/pipeline/stream end to end: uvicorn, LISTEN/NOTIFY, committed changes (see conftest.py)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import transaction

from shared_apps.users.apikeys import api_key_create
from shared_apps.users.models import ApiKey, User
from tenant_apps.leads import services
from tenant_apps.leads.models import Stage
from tests.tenant_apps.realtime.conftest import (
    ACME,
    GLOBEX,
    WEB_APPLICATION_NAME,
    committed,
    in_schema,
)

# The test database must exist; what the server reads is committed from threads, not in this transaction.
pytestmark = pytest.mark.django_db


def test_committed_lead_changes_arrive_in_order_with_from_and_to(open_stream, world):
    stream = open_stream("acme", "acme")
    assert stream.status == 200
    assert stream.headers["Content-Type"] == "text/event-stream"
    assert stream.headers["Cache-Control"] == "no-cache"
    assert stream.headers["X-Accel-Buffering"] == "no"
    assert stream.until_ready() == []  # no Last-Event-ID: live only

    lead_id = world.lead(ACME, company="Initech")
    world.transition(ACME, lead_id, Stage.CONTACTED)
    in_schema(ACME, services.lead_update, lead_id=lead_id, actor=None, changes={"company": "Initrode"})
    in_schema(ACME, services.lead_delete, lead_id=lead_id, actor=None)
    in_schema(ACME, services.lead_restore, lead_id=lead_id, actor=None)

    frames = stream.events(5)
    assert [frame.event for frame in frames] == [
        "lead.created",
        "lead.stage_changed",
        "lead.updated",
        "lead.deleted",
        "lead.restored",
    ]
    ids = [int(frame.id) for frame in frames]
    assert ids == sorted(ids) and len(set(ids)) == 5 and ids[0] > stream.position
    assert all(frame.json["record_id"] == lead_id for frame in frames)
    assert [frame.json["id"] for frame in frames] == ids
    changed = frames[1].json
    assert changed["data"] == {"from": "NEW", "to": "CONTACTED"}
    assert "owner_id" in changed and changed["owner_id"] is None
    assert frames[2].json["data"] == {"fields": ["company"], "changes": {"company": ["Initech", "Initrode"]}}


def test_an_organizations_events_never_reach_another_organizations_stream(open_stream, world):
    acme, globex = open_stream("acme", "acme"), open_stream("globex", "globex")
    acme.until_ready()
    globex.until_ready()

    acme_lead = world.lead(ACME)
    [created] = acme.events(1)
    assert created.json["record_id"] == acme_lead
    assert globex.quiet_for(heartbeats=2) == []

    globex_lead = world.lead(GLOBEX)
    [other] = globex.events(1)
    assert other.json["record_id"] == globex_lead
    assert acme.quiet_for(heartbeats=2) == []


def test_a_rolled_back_change_is_never_streamed(open_stream, world):
    stream = open_stream("acme", "acme")
    stream.until_ready()
    lead_id = world.lead(ACME)
    assert stream.events(1)[0].event == "lead.created"

    def transition_then_roll_back() -> None:
        from django_tenants.utils import schema_context

        with schema_context(ACME), transaction.atomic():
            services.lead_transition(lead_id=lead_id, to_stage=Stage.LOST, actor=None)
            transaction.set_rollback(True)

    committed(transition_then_roll_back)
    world.transition(ACME, lead_id, Stage.CONTACTED)
    [frame] = stream.events(1)
    assert frame.json["data"] == {"from": "NEW", "to": "CONTACTED"}


def test_last_event_id_replays_what_was_missed_then_continues_live_without_duplicates(open_stream, world):
    first = open_stream("acme", "acme")
    first.until_ready()
    lead_id = world.lead(ACME)
    world.transition(ACME, lead_id, Stage.CONTACTED)
    seen = first.events(2)
    first.close()

    world.transition(ACME, lead_id, Stage.QUALIFIED)  # while disconnected
    world.transition(ACME, lead_id, Stage.PROPOSAL)

    resumed = open_stream("acme", "acme", headers={"Last-Event-ID": seen[0].id})
    replayed = resumed.until_ready()
    assert replayed[0].id == seen[1].id
    assert [frame.json["data"].get("to") for frame in replayed] == ["CONTACTED", "QUALIFIED", "PROPOSAL"]
    assert resumed.position == int(replayed[-1].id)

    world.transition(ACME, lead_id, Stage.NEGOTIATION)
    [live] = resumed.events(1)
    assert live.json["data"]["to"] == "NEGOTIATION" and int(live.id) > resumed.position

    # the query parameter does the same (a page that knows where its data stands); the header wins
    by_query = open_stream("acme", "acme", query=f"?last_event_id={replayed[-1].id}")
    assert [frame.id for frame in by_query.until_ready()] == [live.id]
    both = open_stream("acme", "acme", headers={"Last-Event-ID": live.id}, query="?last_event_id=0")
    assert both.until_ready() == []


def test_heartbeat_comments_keep_an_idle_stream_alive(open_stream, world):
    stream = open_stream("acme", "acme")
    first = stream.next()
    assert first.retry == "3000" and "connected" in first.comments
    stream.until_ready()
    assert stream.quiet_for(heartbeats=3) == []


def test_credentials_of_another_organization_or_none_are_refused(server, world):
    host = f"acme.{settings.BASE_DOMAIN}"
    status, headers, body = server.request(
        host, "/api/pipeline/stream", {"Authorization": f"Bearer {world.tokens['globex']}"}
    )
    assert status == 401 and b'"authentication_failed"' in body
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, _, body = server.request(host, "/api/pipeline/stream")
    assert status == 401 and b'"not_authenticated"' in body


def test_a_malformed_last_event_id_is_refused_naming_it(server, world):
    host = f"acme.{settings.BASE_DOMAIN}"
    auth = {"Authorization": f"Bearer {world.tokens['acme']}"}
    for bad in ("abc", "-1", "1.5", "99999999999999999999", "9" * 5000, "١٢"):
        status, _, body = server.request(
            host, "/api/pipeline/stream", {**auth, "Last-Event-ID": bad.encode().decode("latin1")}
        )
        assert status == 400 and b'"last_event_id"' in body, bad
    status, _, body = server.request(host, "/api/pipeline/stream?last_event_id=%00", auth)
    assert status == 400 and b'"last_event_id"' in body


def test_api_keys_need_the_pipeline_resource(server, open_stream, world):
    def issue(resources: list[str]) -> str:
        admin = User.objects.get(pk=world.ids["acme"])
        raw, _ = api_key_create(actor=admin, name="stream", resources=resources)
        return raw

    narrow, wide = in_schema(ACME, issue, ["leads"]), in_schema(ACME, issue, ["pipeline"])
    try:
        status, _, body = server.request(
            f"acme.{settings.BASE_DOMAIN}", "/api/pipeline/stream", {"X-API-Key": narrow}
        )
        assert status == 403 and b"pipeline" in body
        stream = open_stream("acme", headers={"Authorization": f"Bearer {wide}"})
        assert stream.status == 200
        stream.until_ready()
    finally:
        in_schema(ACME, lambda: ApiKey.objects.filter(name="stream").delete())


def test_a_signed_in_session_opens_the_stream(open_stream, world):
    def session_cookie() -> str:
        from django.test import Client

        client = Client(HTTP_HOST=f"acme.{settings.BASE_DOMAIN}")
        client.force_login(User.objects.get(pk=world.ids["acme"]))
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    cookie = in_schema(ACME, session_cookie)
    stream = open_stream("acme", headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"})
    assert stream.status == 200
    stream.until_ready()
    lead_id = world.lead(ACME)
    assert stream.events(1)[0].json["record_id"] == lead_id
    # the same session on globex's host is unknown there
    other = open_stream("globex", headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"})
    assert other.status == 401


def test_a_rep_gets_events_of_own_and_unassigned_leads_only(open_stream, world):
    rep, admin = world.ids["rep"], world.ids["acme"]
    reps, admins = open_stream("acme", "rep"), open_stream("acme", "acme")
    reps.until_ready()
    admins.until_ready()

    theirs = world.lead(ACME, owner_id=admin)
    mine = world.lead(ACME, owner_id=rep)
    nobodys = world.lead(ACME)
    in_schema(ACME, services.lead_update, lead_id=mine, actor=None, changes={"owner_id": admin})

    everything = admins.events(4)
    assert [frame.json["record_id"] for frame in everything] == [theirs, mine, nobodys, mine]
    assert [frame.json["owner_id"] for frame in everything] == [admin, rep, None, admin]
    seen = reps.events(3)
    assert [(frame.event, frame.json["record_id"]) for frame in seen] == [
        ("lead.created", mine),
        ("lead.created", nobodys),
        ("lead.owner_changed", mine),  # the lead leaves the rep's board
    ]
    assert seen[2].json["data"] == {"from": rep, "to": admin}
    world.transition(ACME, mine, Stage.CONTACTED)  # now someone else's
    world.transition(ACME, nobodys, Stage.CONTACTED)
    [frame] = reps.events(1)
    assert frame.json["record_id"] == nobodys


def test_one_listener_connection_per_process_however_many_streams(server, open_stream, world):
    def connections_by_name() -> dict[str, int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s "
                "GROUP BY application_name",
                [settings.DATABASES["default"]["NAME"]],
            )
            return dict(cursor.fetchall())

    acme, globex = [open_stream("acme", "acme")], [open_stream("globex", "globex")]
    for stream in acme + globex:
        stream.until_ready()
    before = committed(connections_by_name)
    acme += [open_stream("acme", "acme") for _ in range(5)]
    globex += [open_stream("globex", "globex") for _ in range(5)]
    for stream in acme[1:] + globex[1:]:
        stream.until_ready()
    after = committed(connections_by_name)

    assert before.get("leadpulse-realtime-listener") == after.get("leadpulse-realtime-listener") == 1
    # the streams' queries (sign-in, replay) share a pool of DB_THREADS (here 1): ten more open streams, not
    # one more connection (`before` may also count connections earlier requests' threads left behind)
    assert after.get(WEB_APPLICATION_NAME, 0) <= before.get(WEB_APPLICATION_NAME, 0)
    lead_id = world.lead(ACME)
    for stream in acme:
        assert stream.events(1)[0].json["record_id"] == lead_id
    assert committed(connections_by_name).get("leadpulse-realtime-listener") == 1


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_only_get_is_allowed(server, world, method):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    conn.request(
        method,
        "/api/pipeline/stream",
        headers={"Host": f"acme.{settings.BASE_DOMAIN}", "Authorization": f"Bearer {world.tokens['acme']}"},
    )
    response = conn.getresponse()
    assert response.status == 405 and response.getheader("Allow") == "GET"
    conn.close()


def test_the_listener_reconnects_and_streams_catch_up_on_what_it_missed(open_stream, world):
    stream = open_stream("acme", "acme")
    stream.until_ready()

    def kill_listener() -> int:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'leadpulse-realtime-listener' AND datname = %s",
                [settings.DATABASES["default"]["NAME"]],
            )
            return cursor.fetchone()[0]

    assert committed(kill_listener) == 1
    missed = world.lead(ACME)  # most likely committed while nobody listens
    after = world.lead(ACME)
    frames = stream.events(2)
    assert [frame.json["record_id"] for frame in frames] == [missed, after]
    assert int(frames[0].id) < int(frames[1].id)


def test_an_organization_on_another_database_streams_from_that_databases_listener(open_stream, world):
    from django_tenants.utils import schema_context

    from shared_apps.organizations import placement
    from shared_apps.organizations.models import Domain, Organization
    from shared_apps.organizations.services import organization_provision, schema_drop
    from shared_apps.users.services import token_issue
    from tests.conftest import PASSWORD

    def provision() -> str:
        organization_provision(
            name="Far Away", slug="faraway", admin_email="admin@faraway.test", admin_password=PASSWORD,
            database="shard2",
        )  # fmt: skip
        with placement.using("shard2"), schema_context("org_faraway"):
            return token_issue(email="admin@faraway.test", password=PASSWORD)[0]

    def far_lead() -> int:
        with placement.using("shard2"), schema_context("org_faraway"):
            return services.lead_create(actor=None, name="Far lead", allow_duplicate=True).pk

    def remove() -> None:
        for organization in Organization.objects.filter(slug="faraway"):
            schema_drop(organization.schema_name, database="shard2")
            Domain.objects.filter(tenant=organization).delete()
            organization.delete(force_drop=False)

    world.tokens["faraway"] = committed(provision)
    try:
        far, near = open_stream("faraway", "faraway"), open_stream("acme", "acme")
        assert far.status == 200, far.response.read()
        far.until_ready()
        near.until_ready()
        lead_id = committed(far_lead)
        [created] = far.events(1)
        assert created.event == "lead.created" and created.json["record_id"] == lead_id
        assert near.quiet_for(heartbeats=2) == []
        far.close()
    finally:
        committed(remove)


def test_open_streams_hold_no_thread_of_their_own(server, open_stream, world):
    import time

    import psutil

    process = psutil.Process(server.process.pid)
    first = open_stream("acme", "acme")
    first.until_ready()
    before = process.num_threads()
    streams = [open_stream("acme", "acme") for _ in range(10)]
    for stream in streams:
        stream.until_ready()
    deadline = time.monotonic() + 5
    while process.num_threads() >= before + 5 and time.monotonic() < deadline:
        time.sleep(0.1)  # (a released thread ends moments later)
    # Django's ASGI handler used to keep one thread per open stream: ten more streams, ten more threads
    assert process.num_threads() < before + 5
    lead_id = world.lead(ACME)
    for stream in [first, *streams]:
        assert stream.events(1)[0].json["record_id"] == lead_id
