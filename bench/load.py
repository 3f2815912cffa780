"""Under load: BENCH_LOAD_CLIENTS (500) concurrent clients for BENCH_LOAD_SECONDS (30) on GET /api/leads/,
with BENCH_LOAD_STREAMS (300) SSE streams open, against one uvicorn process as `make up` runs it (Django's
psycopg pool, the shared Redis pool, the admission limit; their sizes from the environment: DB_POOL_MAX_SIZE,
REDIS_POOL_MAX_CONNECTIONS, REQUEST_CONCURRENCY).

Measured in one run:
- baseline: BENCH_LOAD_BASELINE_SECONDS (5) of the same request from a single client (one at a time);
- then the streams are opened and the clients started together; each client loops on one keep-alive
  connection (raw asyncio HTTP/1.1, in this process) for the duration.
Printed: requests per second, p50/p99 latency (and the ratio to the baseline), the count of each status
(5xx must be 0: beyond capacity a request waits for its turn, up to REQUEST_QUEUE_TIMEOUT; a 503 would
say capacity was exceeded for longer), and the peaks sampled every SAMPLE_SECONDS during the load: the
server's database connections (pg_stat_activity, by application_name), its listener's, and its Redis
clients (CLIENT LIST, by client name). This machine's cores also run the clients: the throughput is a
floor. The `benchload` organization and its leads stay between runs; tokens do not, nor the server.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import threading
import time
from array import array
from collections import Counter
from typing import Any

from bench.common import ROOT, bench_organization, free_port, setup_django, start_uvicorn
from bench.sse import Client

CLIENTS = int(os.environ.get("BENCH_LOAD_CLIENTS", "500"))
STREAMS = int(os.environ.get("BENCH_LOAD_STREAMS", "300"))
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "30"))
BASELINE_SECONDS = float(os.environ.get("BENCH_LOAD_BASELINE_SECONDS", "5"))
LEADS = 50
CONNECT_BATCH = 50
SAMPLE_SECONDS = 0.25
LAZY_SECONDS = 0.5
SLUG = "benchload"
PASSWORD = "bench-password-2026"
SERVER_LOG = ROOT / ".data" / "bench-load-server.log"  # the server's access log and errors
SERVER_NAME = "leadpulse-bench-load"  # the server's PostgreSQL application_name and Redis client name
LISTENER_NAME = "leadpulse-realtime-listener"


# ---- clients -----------------------------------------------------------------------------------------------


class Results:
    def __init__(self) -> None:
        self.latencies: array[float] = array("d")
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()


async def _client(port: int, host: str, token: str, until: float, results: Results) -> None:
    """GET /api/leads/ in a loop on one keep-alive connection (a new one if the server closes it)."""
    request = (
        f"GET /api/leads/ HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    reader = writer = None
    while time.monotonic() < until:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            keep = True
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"connection" and value.strip().lower() == b"close":
                    keep = False
            await reader.readexactly(length)
            results.latencies.append(time.perf_counter() - start)
            results.statuses[status] += 1
            if not keep:
                writer.close()
                reader = writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            results.errors[type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.05)
    if writer is not None:
        writer.close()


async def _open_streams(count: int, port: int, host: str, token: str) -> tuple[list[Client], list[Any]]:
    """`count` streams, CONNECT_BATCH at a time, each until its `ready` frame; read every LAZY_SECONDS."""
    streams: list[Client] = []
    tasks: list[asyncio.Task[None]] = []
    for start in range(0, count, CONNECT_BATCH):
        batch = [Client(lazy=LAZY_SECONDS) for _ in range(min(CONNECT_BATCH, count - start))]
        tasks += [asyncio.create_task(stream.run(port, host, token)) for stream in batch]
        await asyncio.wait_for(asyncio.gather(*(stream.ready.wait() for stream in batch)), 120)
        streams += batch
    return streams, tasks


# ---- what the server holds ---------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Peaks of the server's database connections (its pool's and its listener's) and Redis clients."""

    def __init__(self, database: str) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.stop = threading.Event()
        self.peak: Counter[str] = Counter()

    def run(self) -> None:
        from django.db import connection

        redis = _redis()
        try:
            while not self.stop.is_set():
                for name, count in _database_connections(self.database).items():
                    self.peak[name] = max(self.peak[name], count)
                clients = sum(1 for client in redis.client_list() if client.get("name") == SERVER_NAME)
                self.peak["redis"] = max(self.peak["redis"], clients)
                time.sleep(SAMPLE_SECONDS)
        finally:
            connection.close()


def _database_connections(database: str) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND application_name IN (%s, %s) GROUP BY 1",
            [database, SERVER_NAME, LISTENER_NAME],
        )
        return dict(cursor.fetchall())


def _redis() -> Any:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


# ---- set-up ------------------------------------------------------------------------------------------------


def _prepare(schema: str) -> str:
    """LEADS leads (kept between runs) and a fresh admin token (the previous runs' removed)."""
    from django_tenants.utils import schema_context

    from shared_apps.users.models import AuthToken, Role, User
    from shared_apps.users.services import token_issue
    from tenant_apps.leads.models import Lead
    from tenant_apps.leads.services import lead_create

    with schema_context(schema):
        for index in range(Lead.objects.count(), LEADS):
            lead_create(actor=None, name=f"Load lead {index}", allow_duplicate=True)
        AuthToken.objects.all().delete()
        admin = User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk").first()
        assert admin is not None
        admin.set_password(PASSWORD)
        admin.save(update_fields=["password"])
        token, _ = token_issue(email=admin.email, password=PASSWORD)
    return token


def _start_server(port: int) -> subprocess.Popen[bytes]:
    url = os.environ["DATABASE_URL"]
    url += ("&" if "?" in url else "?") + f"application_name={SERVER_NAME}"
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    redis_url += ("&" if "?" in redis_url else "?") + f"client_name={SERVER_NAME}"
    env = {**os.environ, "LOG_LEVEL": "ERROR", "DATABASE_URL": url, "REDIS_URL": redis_url}
    # one member makes every request: measure capacity, not the plan's request limit
    env.update({f"THROTTLE_{plan}": "100000000/min" for plan in ("FREE", "TEAM", "BUSINESS", "ENTERPRISE")})
    SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    with SERVER_LOG.open("wb") as log:  # the child keeps its own descriptor
        return start_uvicorn(env, port, stderr=log)


# ---- the run -----------------------------------------------------------------------------------------------


async def _measure(port: int, host: str, token: str, database: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    baseline = Results()
    await _client(port, host, token, time.monotonic() + 1, Results())  # warm-up: routes cached, pool open
    started = time.monotonic()
    await _client(port, host, token, started + BASELINE_SECONDS, baseline)
    out["baseline"] = (baseline, time.monotonic() - started)

    sampler = Sampler(database)
    sampler.start()
    streams, tasks = [], []
    try:
        started = time.monotonic()
        streams, tasks = await _open_streams(STREAMS, port, host, token)
        out["streams_seconds"] = time.monotonic() - started
        out["streams_idle"] = await asyncio.get_running_loop().run_in_executor(
            None, _database_connections, database
        )
        loaded = Results()
        started = time.monotonic()
        until = started + SECONDS
        await asyncio.gather(*(_client(port, host, token, until, loaded) for _ in range(CLIENTS)))
        out["load"] = (loaded, time.monotonic() - started)
        out["loadavg"] = os.getloadavg()
        out["streams_alive"] = sum(1 for task in tasks if not task.done())
    finally:
        sampler.stop.set()
        sampler.join()
        for stream in streams:
            stream.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    out["peak"] = sampler.peak
    return out


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = (CLIENTS + STREAMS) * 2 + 256
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))  # the server inherits it
    setup_django()
    from django.conf import settings
    from django.db import connections

    database = settings.DATABASES["default"]["NAME"]
    organization = bench_organization(SLUG, "Bench load", PASSWORD)
    token = _prepare(organization.schema_name)
    connections.close_all()

    port = free_port()
    server = _start_server(port)
    try:
        results = asyncio.run(_measure(port, f"{SLUG}.{settings.BASE_DOMAIN}", token, database))
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    _report(results)


def _report(results: dict[str, Any]) -> None:
    pool = os.environ.get("DB_POOL_MAX_SIZE", "10")
    redis_pool = os.environ.get("REDIS_POOL_MAX_CONNECTIONS", "50")
    admitted = os.environ.get("REQUEST_CONCURRENCY", "20")
    print(
        f"\nUnder load: {CLIENTS} concurrent clients for {SECONDS:.0f} s on GET /api/leads/ ({LEADS} leads) "
        f"with {STREAMS} SSE streams open, one uvicorn process (database pool {pool}, "
        f"Redis pool {redis_pool}, {admitted} requests in Django at once)"
    )
    one, two, three = results["loadavg"]
    print(
        f"  (machine: {os.cpu_count()} cores shared with the clients; "
        f"load average {one:.1f} {two:.1f} {three:.1f})"
    )
    base_p50 = statistics.median(results["baseline"][0].latencies)
    for name, (measured, elapsed) in (
        ("1 client (baseline)", results["baseline"]),
        (f"{CLIENTS} clients", results["load"]),
    ):
        latencies = sorted(measured.latencies)
        count = len(latencies)
        p50 = statistics.median(latencies) if latencies else float("nan")
        p99 = latencies[min(count - 1, round(0.99 * (count - 1)))] if latencies else float("nan")
        fivexx = sum(n for status, n in measured.statuses.items() if status >= 500)
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(measured.statuses.items()))
        errors = ", ".join(f"{kind}: {n}" for kind, n in measured.errors.items()) or "none"
        print(
            f"  {name:<20} {count / elapsed:8.1f} req/s  p50={p50 * 1000:8.1f} ms  p99={p99 * 1000:8.1f} ms  "
            f"(p50 {p50 / base_p50:.1f}x the baseline)"
        )
        print(f"  {'':<20} statuses {statuses}; 5xx: {fivexx}; connection errors: {errors}")
    peak = results["peak"]
    idle = results["streams_idle"]
    print(
        f"  {STREAMS} streams opened in {results['streams_seconds']:.1f} s, "
        f"{results['streams_alive']} still open after the load; with them open and idle the server held "
        f"{idle.get(SERVER_NAME, 0)} pooled + {idle.get(LISTENER_NAME, 0)} listener database connections"
    )
    print(
        f"  peak held during the run: database {peak[SERVER_NAME]} pooled + {peak[LISTENER_NAME]} listener "
        f"(bound: DB_POOL_MAX_SIZE {pool} + 1), Redis clients {peak['redis']} (bound: {redis_pool})"
    )
    print(f"  (the server's log: {SERVER_LOG})")
