"""Real-time stream: BENCH_SSE_STREAMS (1,000) concurrent SSE streams on one uvicorn process.

One uvicorn process (as `make up` runs it) serves GET /api/pipeline/stream on `<db>_bench`. The clients are
asyncio tasks in this process on raw asyncio streams (an HTTP/1.1 request, then the chunked body as it
comes). Another process commits `lead_create` (one lead.created event per transaction) at BENCH_SSE_RATE
(50) per second.

Measured in one run:
- baseline: BENCH_SSE_BASELINE_SECONDS (10) of the same events with 1 stream open;
- then BENCH_SSE_STREAMS streams: the server's RSS growth per stream once they are all open (and after the
  events), commit-to-client latency for BENCH_SSE_SECONDS (20), missing and duplicate deliveries over
  every stream, the server's CPU and its database connections.

Latency is the time a client read the frame minus the event's commit time, which the frame carries
(`occurred_at`: the log's created_at, set by the commit trigger just before the commit; same clock). Every
stream is read in full, but this machine's 2 cores also run the clients: reading 50,000 frames a second
one by one would make the figure the clients' own backlog. So BENCH_SSE_PROBES (100) streams, spread
among the others, read as frames come and are timed; the rest read every LAZY_SECONDS (the server does the
same work for each: the kernel holds the frames until read). The `benchsse` organization stays between
runs; its leads, event log and token do not, nor the server.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import resource
import statistics
import subprocess
import time
from array import array
from datetime import datetime
from pathlib import Path
from typing import Any

try:
    import uvloop
except ImportError:  # pragma: no cover (a dependency; Windows has none)
    uvloop = None  # type: ignore[assignment]

from bench.common import bench_organization, free_port, setup_django, start_uvicorn, summary

STREAMS = int(os.environ.get("BENCH_SSE_STREAMS", "1000"))
RATE = float(os.environ.get("BENCH_SSE_RATE", "50"))
SECONDS = float(os.environ.get("BENCH_SSE_SECONDS", "20"))
BASELINE_SECONDS = float(os.environ.get("BENCH_SSE_BASELINE_SECONDS", "10"))
# Streams timed for latency, spread among the others; the rest read every LAZY_SECONDS (see the docstring).
PROBES = int(os.environ.get("BENCH_SSE_PROBES", "100"))
LAZY_SECONDS = 0.5
TARGET_P95_MS = 50.0
CONNECT_BATCH = 50
SLUG = "benchsse"
PASSWORD = "bench-password-2026"
CREATED_TAG = "bench-sse"
ROOT = Path(__file__).resolve().parent.parent
SERVER_APPLICATION_NAME = "leadpulse-bench-sse"
# every event frame: its record id, and its commit time (the log's created_at, set by the commit trigger)
EVENT = re.compile(rb'"record_id":(\d+).*?"occurred_at":"([^"]+)"')


# ---- the producer (its own process: commits are timed without this process's 1,000 sockets) -----------


def _produce(schema: str, rate: float, seconds: float, go: Any, results: Any) -> None:
    import django

    django.setup()
    from django_tenants.utils import schema_context

    from tenant_apps.leads.services import lead_create

    committed: dict[int, float] = {}
    with schema_context(schema):
        lead_create(actor=None, name="SSE warm-up", tags=[CREATED_TAG], allow_duplicate=True)
        results.put("ready")
        go.wait()
        start = time.perf_counter()
        for index in range(round(rate * seconds)):
            pause = start + index / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            lead = lead_create(actor=None, name=f"SSE lead {index}", tags=[CREATED_TAG], allow_duplicate=True)
            committed[lead.pk] = time.time()  # (the events of the phase are told apart by their lead)
    results.put(committed)


def _commit_events(schema: str, seconds: float) -> dict[int, float]:
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    producer = context.Process(target=_produce, args=(schema, RATE, seconds, go, results), daemon=True)
    producer.start()
    if results.get(timeout=120) != "ready":
        raise RuntimeError("the producer did not start")
    go.set()
    committed = results.get(timeout=seconds * 3 + 60)
    producer.join(timeout=30)
    return committed


# ---- the clients -----------------------------------------------------------------------------------------


class Client:
    """One stream: the record id of every event frame, from the raw chunked body, and for a probe (not lazy)
    the latency of each: time received minus the commit time the frame carries."""

    def __init__(self, lazy: float = 0.0) -> None:
        self.lazy = lazy
        self.ids: array[int] = array("q")
        self.latencies: array[float] = array("d")
        self.ready = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None

    async def run(self, port: int, host: str, token: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer = writer
        writer.write(
            f"GET /api/pipeline/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"stream refused: {head[:200]!r}")
        buffer = b""
        while True:
            data = await reader.read(65536)
            if not data:
                return
            now = time.time()
            buffer += data
            cut = buffer.rfind(b"\n\n")
            if cut < 0:
                continue
            block, buffer = buffer[:cut], buffer[cut + 2 :]
            if not self.ready.is_set() and b"event: ready" in block:
                self.ready.set()
            for match in EVENT.finditer(block):
                self.ids.append(int(match.group(1)))
                if not self.lazy:
                    self.latencies.append(now - datetime.fromisoformat(match.group(2).decode()).timestamp())
            if self.lazy:
                await asyncio.sleep(self.lazy)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _open(
    clients: list[Client], tasks: list[asyncio.Task[None]], count: int, port: int, host: str, token: str
) -> None:
    """Open `count` more streams, CONNECT_BATCH at a time, each until its `ready` frame; one in
    count / PROBES reads eagerly (a probe), the others lazily."""
    every = max(1, count // max(1, PROBES))
    for start in range(0, count, CONNECT_BATCH):
        size = min(CONNECT_BATCH, count - start)
        batch = [Client(lazy=0.0 if (start + n) % every == 0 else LAZY_SECONDS) for n in range(size)]
        for client in batch:
            tasks.append(asyncio.create_task(client.run(port, host, token)))
        await asyncio.wait_for(asyncio.gather(*(client.ready.wait() for client in batch)), 120)
        clients.extend(batch)
    for task in tasks:
        if task.done() and task.exception():
            raise task.exception()  # type: ignore[misc]


def _latencies(clients: list[Client], committed: dict[int, float]) -> tuple[list[float], int, int]:
    """Latency of every (probe, event) pair of the phase; how many (stream, event) pairs never arrived, and
    how many arrived twice, over every stream."""
    samples: list[float] = []
    received = 0
    duplicates = 0
    for client in clients:
        seen = [record_id for record_id in client.ids if record_id in committed]
        received += len(set(seen))
        duplicates += len(seen) - len(set(seen))
        if client.lazy:
            continue
        for record_id, latency in zip(client.ids, client.latencies, strict=True):
            if record_id in committed:
                samples.append(latency)
    return samples, len(clients) * len(committed) - received, duplicates


# ---- the server ------------------------------------------------------------------------------------------


def _rss(pid: int) -> int:
    import psutil

    return psutil.Process(pid).memory_info().rss


def _threads(pid: int) -> int:
    import psutil

    return psutil.Process(pid).num_threads()


def _cpu(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


# ---- set-up and clean-up -------------------------------------------------------------------------------


def _clean() -> None:
    """Inside the bench schema: the leads, events and tokens of this run (or of an interrupted one)."""
    from django.db import transaction

    from shared_apps.core.db import connection
    from shared_apps.users.models import AuthToken
    from tenant_apps.leads.models import Lead
    from tenant_apps.realtime.models import EventLog

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL leadpulse.purge = 'on'")  # the timeline's append-only escape hatch
        Lead.objects.filter(tags__contains=[CREATED_TAG]).delete()
    EventLog.objects.all().delete()
    AuthToken.objects.all().delete()
    import django_rq

    for name in ("default", "low"):
        django_rq.get_queue(name).empty()  # jobs the created leads queued (nobody runs them here)


def _connections(database: str) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s GROUP BY 1",
            [database],
        )
        return dict(cursor.fetchall())


# ---- the run ---------------------------------------------------------------------------------------------


async def _measure(port: int, host: str, token: str, schema: str, server_pid: int) -> dict[str, Any]:
    clients: list[Client] = []
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    results: dict[str, Any] = {}
    try:
        await _open(clients, tasks, 1, port, host, token)
        cpu, own = _cpu(server_pid), time.process_time()
        committed = await loop.run_in_executor(None, _commit_events, schema, BASELINE_SECONDS)
        results["baseline"] = (
            *_latencies(clients, committed),
            (_cpu(server_pid) - cpu) / BASELINE_SECONDS,
            (time.process_time() - own) / BASELINE_SECONDS,
        )
        await asyncio.sleep(1)
        results["rss_one"], results["threads_one"] = _rss(server_pid), _threads(server_pid)

        started = time.perf_counter()
        await _open(clients, tasks, STREAMS - 1, port, host, token)
        results["connect_seconds"] = time.perf_counter() - started
        await asyncio.sleep(2)
        results["rss_open"], results["threads_open"] = _rss(server_pid), _threads(server_pid)
        results["db"] = await loop.run_in_executor(None, _connections_now)

        cpu, own = _cpu(server_pid), time.process_time()
        committed = await loop.run_in_executor(None, _commit_events, schema, SECONDS)
        await asyncio.sleep(1 + LAZY_SECONDS)  # the last events' way to every client
        results["many"] = (
            *_latencies(clients, committed),
            (_cpu(server_pid) - cpu) / SECONDS,
            (time.process_time() - own) / SECONDS,
        )
        results["load"] = os.getloadavg()[0]
        results["rss_events"] = _rss(server_pid)
        results["events"] = len(committed)
    finally:
        for client in clients:
            client.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(2)
    results["rss_closed"] = _rss(server_pid)
    return results


_database = ""


def _connections_now() -> dict[str, int]:
    return _connections(_database)


def main() -> None:
    global _database
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = STREAMS * 2 + 256
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))  # the server inherits it
    setup_django()
    from django.conf import settings
    from django.db import connections
    from django_tenants.utils import schema_context

    from shared_apps.users.models import Role, User
    from shared_apps.users.services import token_issue

    _database = settings.DATABASES["default"]["NAME"]
    organization = bench_organization(SLUG, "Bench SSE", PASSWORD)
    schema = organization.schema_name
    with schema_context(schema):
        _clean()
        admin = User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk").first()
        admin.set_password(PASSWORD)
        admin.save(update_fields=["password"])
        token, _ = token_issue(email=admin.email, password=PASSWORD)
    connections.close_all()

    port = free_port()
    url = os.environ["DATABASE_URL"]
    # the server's connections carry a name of their own, so they can be counted
    url += ("&" if "?" in url else "?") + f"application_name={SERVER_APPLICATION_NAME}"
    env = {**os.environ, "LOG_LEVEL": "WARNING", "DATABASE_URL": url}
    server = start_uvicorn(env, port)
    try:
        host = f"{SLUG}.{settings.BASE_DOMAIN}"
        measure = _measure(port, host, token, schema, server.pid)
        # the clients on uvloop too when it is there: their own overhead is not the server's latency
        results = uvloop.run(measure) if uvloop is not None else asyncio.run(measure)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        with schema_context(schema):
            _clean()
    _report(results)


def _server_stack() -> str:
    """What uvicorn picks with its defaults (loop and http "auto"), as `make up` runs it."""
    from importlib.util import find_spec

    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    http = "httptools" if find_spec("httptools") else "h11"
    return f"{loop} event loop, {http} HTTP parser"


def _report(results: dict[str, Any]) -> None:
    kib = 1024
    per_stream = (results["rss_open"] - results["rss_one"]) / (STREAMS - 1) / kib
    per_stream_after = (results["rss_events"] - results["rss_one"]) / (STREAMS - 1) / kib
    print(f"\nReal-time stream: {STREAMS} SSE streams on one uvicorn process, {RATE:.0f} events/s committed")
    print(f"  (machine: {os.cpu_count()} cores, load average {results['load']:.1f} at the end of the events)")
    print(f"  server: uvicorn, {_server_stack()}")
    print(
        f"  opening {STREAMS - 1} more streams took {results['connect_seconds']:.1f} s; server RSS "
        f"{results['rss_one'] / kib / kib:.0f} MiB with 1 stream, {results['rss_open'] / kib / kib:.0f} MiB "
        f"with {STREAMS}, {results['rss_events'] / kib / kib:.0f} MiB after the events, "
        f"{results['rss_closed'] / kib / kib:.0f} MiB once closed"
    )
    print(f"  RSS growth per stream: {per_stream:.1f} KiB open, {per_stream_after:.1f} KiB after the events")
    print(
        f"  server threads: {results['threads_one']} with 1 stream, {results['threads_open']} with {STREAMS} "
        "(a stream lets go of the thread Django's ASGI handler gives each request for its sync middleware)"
    )
    db = results["db"]
    print(
        f"  database connections of the server with {STREAMS} streams open: "
        f"{db.get('leadpulse-realtime-listener', 0)} listener + {db.get(SERVER_APPLICATION_NAME, 0)} Django "
        "(sign-in and replay queries; none held by an open stream)"
    )
    base = statistics.median(results["baseline"][0])
    for name, (values, lost, twice, load, clients_load) in (
        ("1 stream (baseline)", results["baseline"]),
        (f"{STREAMS} streams", results["many"]),
    ):
        stats = summary(values)
        print(
            f"  commit -> client, {name:<20} n={stats['n']:<7} p50={stats['p50'] * 1000:8.2f} ms  "
            f"p95={stats['p95'] * 1000:8.2f} ms  max={max(values) * 1000:8.1f} ms  "
            f"(p50 {statistics.median(values) / base:.1f}x the baseline)"
        )
        print(
            f"    missing {lost}, duplicates {twice}; CPU of one core: server {load:.0%}, "
            f"clients {clients_load:.0%}"
        )
    p95 = summary(results["many"][0])["p95"] * 1000
    print(
        f"  target: p95 < {TARGET_P95_MS:.0f} ms at {STREAMS} streams and {RATE:.0f} events/s: "
        f"{'met' if p95 < TARGET_P95_MS else 'NOT met'} ({p95:.1f} ms)"
    )
    events = results["events"]
    print(
        f"  ({events} events in the {STREAMS}-stream phase: {events * STREAMS} deliveries; latency timed on "
        f"{min(PROBES, STREAMS)} streams reading eagerly, the others read every {LAZY_SECONDS} s)"
    )
