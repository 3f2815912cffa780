"""Lead API throughput through the real HTTP stack: tenant resolution vs the same stack with it bypassed.

Two uvicorn servers run the same code on the same `<db>_bench` database: one with the normal settings
(OrganizationRoutingMiddleware: Host header -> organization, cached in Redis), the baseline with
`bench.settings_bypass` (one fixed organization, no lookup at all). GET /api/leads/?page_size=50 and
POST /api/leads/ are timed against both, interleaved round by round, over keep-alive connections with a
member's bearer token; the ratio isolates what tenant resolution costs. SQL queries per request are
counted in-process with the test client. The `benchleads` organization and its seeded leads stay between
runs; the leads the bench creates, its token and the servers do not.

It runs as shipped: the organization is on the enterprise plan and the servers get a request limit no run
reaches (THROTTLE_ENTERPRISE), and each server holds a bounded database pool (DB_POOL_MAX_SIZE 4, the pool
`config.asgi` turns on) and its one shared Redis pool. Around the timed requests it counts the PostgreSQL
sessions opened on the bench database (pg_stat_database.sessions) and the Redis connections opened on its
Redis database (CLIENT LIST ids): zero of each is expected once the servers are warm.
Each response's Server-Timing header (`app;dur=`, the time from the request reaching Django to its
response) gives the server's own time beside the time through HTTP (which adds uvicorn, the event loop's
hand-overs and the client, on the same two cores). The bench VACUUMs and ANALYZEs the tables it seeds and
purges, as autovacuum would on a served database.
Targets (issue 21): list p50 <= 8 ms and create p50 <= 10 ms server time, 0 connections opened per request.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from bench.common import free_port, own_redis, report, setup_django

LIST_ROUNDS = int(os.environ.get("BENCH_LIST_ROUNDS", "300"))
CREATE_ROUNDS = int(os.environ.get("BENCH_CREATE_ROUNDS", "200"))
WARMUP = 20
SEED_LEADS = 2000
SLUG = "benchleads"
MEMBER_EMAIL = f"bench-member@{SLUG}.example"
PASSWORD = "bench-password-2026"
CREATED_TAG = "bench-created"  # on every lead the bench creates, so they can be purged afterwards
LIST_PATH = "/api/leads/?page_size=50"
CREATE_PATH = "/api/leads/"
ROOT = Path(__file__).resolve().parent.parent

ROUTED = "tenant resolution (LeadPulse)"
BYPASSED = "resolution bypassed (baseline)"


def _organization() -> Any:
    """The bench organization, provisioned on the first run and reused afterwards."""
    from shared_apps.organizations.models import Organization, OrganizationStatus
    from shared_apps.organizations.services import organization_provision

    organization = Organization.objects.filter(slug=SLUG).exclude(status=OrganizationStatus.DELETED).first()
    if organization is None:
        organization = organization_provision(
            name="Bench leads", slug=SLUG, admin_email=f"admin@{SLUG}.example", admin_password=PASSWORD
        )
    if organization.status != OrganizationStatus.ACTIVE:
        raise SystemExit(f"organization {SLUG} is {organization.status}; reactivate or purge it first")
    if organization.plan != "enterprise":  # the free plan's 300/min would answer 429 mid-run
        organization.plan = "enterprise"
        organization.save(update_fields=["plan"])
    return organization


LIST_TARGET_MS, CREATE_TARGET_MS = 8.0, 10.0


def _connections_opened() -> tuple[int, int]:
    """(PostgreSQL sessions ever opened on the bench database, highest Redis client id on the bench's Redis
    database): the differences over a run are the connections opened during it."""
    import redis
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        sessions = int(cursor.fetchone()[0])
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        db = client.connection_pool.connection_kwargs.get("db", 0)
        ids = [int(c["id"]) for c in client.client_list() if int(c.get("db", -1)) == db]
        mine = int(client.client_id())
    finally:
        client.close()
    return sessions, max([i for i in ids if i != mine] or [0])


def _new_redis_clients(since_id: int) -> int:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        db = client.connection_pool.connection_kwargs.get("db", 0)
        mine = int(client.client_id())
        return sum(
            1 for c in client.client_list() if int(c.get("db", -1)) == db and since_id < int(c["id"]) != mine
        )
    finally:
        client.close()


def _purge_created() -> int:
    """Remove the leads (and their timelines) created by this bench: the seeded data set stays constant."""
    from django.db import transaction

    from shared_apps.core.db import connection
    from tenant_apps.leads.models import Lead

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL leadpulse.purge = 'on'")  # the timeline's append-only escape hatch
        deleted, _ = Lead.objects.filter(tags__contains=[CREATED_TAG]).delete()
    return deleted


def _seed() -> tuple[Any, int]:
    """In the bench schema: the member (an admin) and SEED_LEADS live leads. Returns (member, seeded now)."""
    from django.db import connection
    from django.utils import timezone

    from shared_apps.users.models import User
    from tenant_apps.leads.models import Lead, Source, Stage

    member = User.objects.filter(email=MEMBER_EMAIL).first()
    if member is None:
        member = User.objects.create_user(MEMBER_EMAIL, PASSWORD, role="admin")
    _purge_created()  # leftovers of an interrupted run
    missing = SEED_LEADS - Lead.objects.alive().count()
    now = timezone.now()
    sources, stages = Source.values, Stage.values
    leads = []
    for i in range(max(0, missing)):
        created = now - timedelta(minutes=37 * i)
        leads.append(
            Lead(
                name=f"Seed lead {i}",
                email=f"seed{i}@seeded.example",
                company=f"Company {i % 97}",
                source=sources[i % len(sources)],
                stage=stages[i % len(stages)],
                value=(i * 37) % 50_000,
                currency="USD",
                owner=member if i % 2 == 0 else None,
                tags=["seed", f"batch-{i % 5}"],
                score=i % 100,
                stage_changed_at=created,
                created_at=created,
                identity_key="",
                phone_normalized="",
            )
        )
    Lead.objects.bulk_create(leads, batch_size=500)
    # the planner's statistics and the dead rows of earlier runs' purged leads, as autovacuum keeps them on a
    # served database (it may be off on a bench machine's server): without statistics the page query sorted
    # every lead (3 ms instead of 0.3), and the dead rows of every earlier run slowed the page's index scan
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) leads_lead, users_user, activities_activity")
    return member, len(leads)


def _create_body(label: str, index: int) -> str:
    return json.dumps(
        {
            "name": f"Bench lead {label} {index}",
            "email": f"{label}-{index}-{uuid.uuid4().hex[:10]}@created.example",
            "company": "Bench Co",
            "source": "web",
            "value": "1200.00",
            "tags": [CREATED_TAG],
            "allow_duplicate": True,
        }
    )


def _statement(sql: str) -> str:
    """A short name for a captured statement: "SELECT users_authtoken", "SET search_path", ..."""
    verb = sql.split(None, 1)[0].upper() if sql.strip() else "?"
    if verb == "SET":
        return " ".join(sql.split()[:2])
    table = re.search(r'\b(?:FROM|INTO|UPDATE)\s+"?([\w.]+)"?', sql, re.IGNORECASE)
    return f"{verb} {table.group(1)}" if table else verb


def _count_queries(host: str, token: str) -> dict[str, list[str]]:
    """SQL statements per request, in-process through the normal middleware (route cache warm)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {token}")
    # Warm: the route cache, and the token's last_used_at (written at most once a minute).
    assert client.get("/api/leads/?page_size=10").status_code == 200
    statements: dict[str, list[str]] = {}
    for size in (10, 50):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/api/leads/?page_size={size}")
        assert response.status_code == 200, response.content
        assert len(response.json()["results"]) == size
        statements[f"list page_size={size}"] = [_statement(q["sql"]) for q in captured.captured_queries]
    with CaptureQueriesContext(connection) as captured:
        response = client.post(CREATE_PATH, _create_body("inproc", 0), content_type="application/json")
    assert response.status_code == 201, response.content
    statements["create"] = [_statement(q["sql"]) for q in captured.captured_queries]
    connection.set_schema_to_public()
    return statements


class Server:
    """One uvicorn process serving config.asgi with the given settings module; its output goes to a log."""

    def __init__(self, name: str, settings_module: str, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--lifespan",
                "off",
                "--log-level",
                "warning",
            ],
            env={**env, "DJANGO_SETTINGS_MODULE": settings_module},
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def wait_ready(self, headers: dict[str, str], timeout: float = 60.0) -> None:
        """Until an authenticated list request answers 200 (fails early if the process dies)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited ({self.process.returncode}):\n{self.output()}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", "/api/leads/?page_size=1", headers=headers)
                response = conn.getresponse()
                body = response.read()
            except OSError:
                time.sleep(0.1)
                continue
            finally:
                conn.close()
            if response.status != 200:
                raise RuntimeError(f"{self.name} server answered {response.status}: {body[:500]!r}")
            return
        raise RuntimeError(f"{self.name} server did not answer within {timeout:.0f} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@contextmanager
def servers(env: dict[str, str]) -> Iterator[dict[str, Server]]:
    started: dict[str, Server] = {}
    try:
        started[ROUTED] = Server(ROUTED, "config.settings.base", env)
        started[BYPASSED] = Server(BYPASSED, "bench.settings_bypass", env)
        yield started
    finally:
        for server in started.values():
            server.stop()


def _check_routing(running: dict[str, Server], headers: dict[str, str]) -> None:
    """The baseline bypasses resolution: an unknown host is a 404 on one server, served by the other."""
    expected = {ROUTED: 404, BYPASSED: 200}
    unknown = {**headers, "Host": headers["Host"].replace(SLUG, "no-such-org", 1)}
    for name, server in running.items():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            _timed(conn, "GET", "/api/leads/?page_size=1", None, unknown, expected[name])  # (times unused)
        finally:
            conn.close()


def _timed(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: str | None,
    headers: dict[str, str],
    expect: int,
) -> tuple[float, float | None]:
    """The request's time through HTTP, and the server's own (its Server-Timing "app;dur=<ms>"), in s."""
    start = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - start
    if response.status != expect:
        raise RuntimeError(f"{method} {path} answered {response.status}: {payload[:500]!r}")
    timing = SERVER_TIMING.search(response.getheader("Server-Timing") or "")
    return elapsed, float(timing[1]) / 1000 if timing is not None else None


SERVER_TIMING = re.compile(r"\bapp;dur=([0-9.]+)")


def _measure(
    conns: dict[str, http.client.HTTPConnection],
    headers: dict[str, str],
    method: str,
    path: str,
    rounds: int,
    expect: int,
    server: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """`rounds` requests per server, interleaved, the order swapped every round; WARMUP rounds untimed.
    The servers' own times go to `server` when given."""
    samples: dict[str, list[float]] = {name: [] for name in conns}
    names = list(conns)
    run = uuid.uuid4().hex[:6]
    for round_ in range(-WARMUP, rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            label = f"{run}-{'r' if name == ROUTED else 'b'}"
            body = _create_body(label, round_ + WARMUP) if method == "POST" else None
            elapsed, own = _timed(conns[name], method, path, body, headers, expect)
            if round_ >= 0:
                samples[name].append(elapsed)
                if server is not None and own is not None:
                    server.setdefault(name, []).append(own)
    return samples


def _throughput(title: str, samples: dict[str, list[float]]) -> None:
    routed, bypassed = statistics.median(samples[ROUTED]), statistics.median(samples[BYPASSED])
    print(
        f"  {title}: {1 / routed:.0f} req/s with tenant resolution, {1 / bypassed:.0f} req/s bypassed "
        f"(from the medians; resolution costs {(routed - bypassed) * 1000:+.2f} ms per request)"
    )


# a Redis database of its own (BENCH_REDIS_DB): its counts must not include another server's clients
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "9"))


def main() -> None:
    own_redis(REDIS_DB)
    setup_django()
    from django.conf import settings
    from django_tenants.utils import schema_context

    from shared_apps.users.services import token_issue, token_revoke
    from tenant_apps.leads.models import Lead

    organization = _organization()
    schema = organization.schema_name
    host = f"{SLUG}.{settings.BASE_DOMAIN}"
    with schema_context(schema):
        _member, seeded = _seed()
        raw_token, token = token_issue(email=MEMBER_EMAIL, password=PASSWORD)
        live = Lead.objects.alive().count()
    print(f"\norganization {SLUG} ({schema}): {live} live leads ({seeded} seeded now), host {host}")

    env = {
        **os.environ,
        "DEBUG": "0",
        "BENCH_SCHEMA": schema,
        "THROTTLE_ENTERPRISE": os.environ.get("BENCH_THROTTLE", "1000000/min"),
        "DB_POOL": "1",
        "DB_POOL_MAX_SIZE": os.environ.get("BENCH_DB_POOL_MAX_SIZE", "4"),
    }
    headers = {"Host": host, "Authorization": f"Bearer {raw_token}"}
    listing_server: dict[str, list[float]] = {}
    creating_server: dict[str, list[float]] = {}
    post_headers = {**headers, "Content-Type": "application/json"}
    try:
        with servers(env) as running:  # booting while the queries are counted
            statements = _count_queries(host, raw_token)
            for server in running.values():
                server.wait_ready(headers)
            _check_routing(running, headers)
            conns = {
                name: http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
                for name, s in running.items()
            }
            try:
                _measure(conns, headers, "GET", LIST_PATH, 0, 200)  # warm: pools filled, caches set
                sessions_before, redis_id_before = _connections_opened()
                listing = _measure(conns, headers, "GET", LIST_PATH, LIST_ROUNDS, 200, listing_server)
                creating = _measure(
                    conns, post_headers, "POST", CREATE_PATH, CREATE_ROUNDS, 201, creating_server
                )
                sessions_after, _ = _connections_opened()
                redis_opened = _new_redis_clients(redis_id_before)
                pg_opened = sessions_after - sessions_before
            finally:
                for conn in conns.values():
                    conn.close()
    finally:
        with schema_context(schema):
            _purge_created()
            token_revoke(token=token)

    report(
        f"GET {LIST_PATH} through uvicorn ({LIST_ROUNDS} requests per server, interleaved)",
        listing,
        baseline=BYPASSED,
    )
    _throughput("list", listing)
    report(
        f"POST {CREATE_PATH} through uvicorn ({CREATE_ROUNDS} unique leads per server, interleaved)",
        creating,
        baseline=BYPASSED,
    )
    _throughput("create", creating)
    requests = 2 * (LIST_ROUNDS + CREATE_ROUNDS + WARMUP)
    print(
        f"\nConnections opened by both servers over {requests} requests after warm-up: "
        f"PostgreSQL {pg_opened} (pg_stat_database.sessions), "
        f"Redis {redis_opened} still connected (CLIENT LIST) - target 0"
    )
    for title, own in (("GET list", listing_server), ("POST create", creating_server)):
        report(
            f"{title}: the server's own time (Server-Timing: the request in Django, to its response)",
            own,
            baseline=BYPASSED,
        )
    for title, samples, own, target in (
        ("list", listing, listing_server, LIST_TARGET_MS),
        ("create", creating, creating_server, CREATE_TARGET_MS),
    ):
        p50 = statistics.median(samples[ROUTED]) * 1000
        server_p50 = statistics.median(own[ROUTED]) * 1000
        verdict = "within" if server_p50 <= target else "OVER"
        print(
            f"  {title} p50 {server_p50:.2f} ms server time ({verdict} the {target:.0f} ms target), "
            f"{p50:.2f} ms through HTTP; {1000 / p50:.0f} requests/s for one worker process at one request "
            "at a time"
        )
    print("\nSQL queries per request (in-process test client, normal middleware, route cache warm)")
    for name, executed in statements.items():
        print(f"  {name}: {len(executed)} queries ({', '.join(executed)})")
