"""Webhook outbox: deliveries per second and latency from commit to received, through a real rq worker.

Events come from `lead_create` (lead, activity and outbox row in one transaction, the delivery job
enqueued on commit). BENCH_WEBHOOK_WORKERS (1) `manage.py rqworker default` process(es) deliver them, with
the worker class every deployment runs (settings.RQ["WORKER_CLASS"]: no fork per job), or
BENCH_WEBHOOK_WORKER_CLASS (e.g. rq.Worker, the forking one, for comparison). The receiver runs in another
process on 127.0.0.1 (HTTP/1.1, connections kept alive) and notes when each event arrives. Two runs:
BENCH_WEBHOOK_EVENTS_SERIAL (500) events one transaction each, as fast as one process commits (latency at
that pace), and BENCH_WEBHOOK_EVENTS (5000) events in one transaction, as an import commits them (what the
delivery side sustains: the target, >= 1,000 deliveries/s from one worker process). Throughput is
events / (commit -> last received). The baseline, measured in the same run against the same receiver: the
same signed POSTs sent by a plain loop over one kept-alive connection (no outbox, queue, worker or
database).

Runs on `<db>_bench_webhooks` and a Redis database of its own on REDIS_URL's server (BENCH_WEBHOOKS_REDIS_DB,
9; refused while another worker is registered there); the `benchhooks` organization stays between runs,
the leads, events and endpoint do not.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.common import bench_redis, setup_django, summary

EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "5000"))
EVENTS_SERIAL = int(os.environ.get("BENCH_WEBHOOK_EVENTS_SERIAL", "500"))
WORKERS = int(os.environ.get("BENCH_WEBHOOK_WORKERS", "1"))
WORKER_CLASS = os.environ.get("BENCH_WEBHOOK_WORKER_CLASS", "")  # "" = settings.RQ["WORKER_CLASS"]
TARGET = 1000.0  # deliveries/s sustained from one worker process
DRAIN_TIMEOUT = float(os.environ.get("BENCH_WEBHOOK_TIMEOUT", "600"))
SLUG = "benchhooks"
PASSWORD = "bench-password-2026"
CREATED_TAG = "bench-webhooks"
ROOT = Path(__file__).resolve().parent.parent


# ---- the receiver (its own process, so it does not share the producer's interpreter lock) --------------


def _receiver(port_out: Any) -> None:
    """POST: answer 200 at once and note (event id, lead id, time received). GET: every note as JSON."""
    notes: list[tuple[str, int, float]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as production receivers do
        # the status line and headers, then the body, are two writes: without this, Nagle's algorithm holds
        # the body until the client's delayed ACK (40 ms a request)
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            received = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            record = json.loads(body).get("record") or {}
            notes.append((self.headers.get("X-LeadPulse-Event-Id", ""), int(record.get("id", 0)), received))

        def do_GET(self) -> None:
            payload = json.dumps(notes).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    port_out.put(server.server_address[1])
    server.serve_forever()


def _notes(port: int) -> list[tuple[str, int, float]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/")
        return [tuple(note) for note in json.loads(conn.getresponse().read())]  # type: ignore[misc]
    finally:
        conn.close()


# ---- set-up --------------------------------------------------------------------------------------------


def _organization() -> Any:
    from shared_apps.organizations.models import Organization, OrganizationStatus
    from shared_apps.organizations.services import organization_provision

    organization = Organization.objects.filter(slug=SLUG).exclude(status=OrganizationStatus.DELETED).first()
    if organization is None:
        organization = organization_provision(
            name="Bench webhooks", slug=SLUG, admin_email=f"admin@{SLUG}.example", admin_password=PASSWORD
        )
    return organization


def _clean() -> None:
    """Inside the bench schema: what a previous (maybe interrupted) run left."""
    from django.db import transaction

    from shared_apps.core.db import connection
    from tenant_apps.leads.models import Lead
    from tenant_apps.webhooks.models import Endpoint, OutboxEvent

    Endpoint.objects.all().delete()
    OutboxEvent.objects.all().delete()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL leadpulse.purge = 'on'")  # the timeline's append-only escape hatch
        Lead.objects.filter(tags__contains=[CREATED_TAG]).delete()


def _empty_queues() -> None:
    import django_rq

    # an organization's waiting list whose job was emptied away would keep new events waiting for it
    connection = django_rq.get_connection("default")
    for key in connection.scan_iter(match="lp:webhooks:waiting:*"):
        connection.delete(key)
    for name in ("default", "low"):
        queue = django_rq.get_queue(name)
        queue.empty()
        for registry in (queue.scheduled_job_registry, queue.failed_job_registry):
            for job_id in registry.get_job_ids():
                registry.remove(job_id, delete_job=True)


def _start_workers(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    import django_rq
    from rq import Worker

    run = uuid.uuid4().hex[:8]
    names = {f"bench-webhooks-{run}-{index}" for index in range(WORKERS)}
    command = [sys.executable, "manage.py", "rqworker", "default"]
    if WORKER_CLASS:
        command += ["--worker-class", WORKER_CLASS]
    log = tempfile.TemporaryFile()  # noqa: SIM115 (read if the workers fail to start)
    workers = [
        subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
            [*command, "--name", name], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log
        )
        for name in sorted(names)
    ]
    connection = django_rq.get_connection("default")
    deadline = time.monotonic() + 60
    while not names <= {worker.name for worker in Worker.all(connection=connection)}:
        if time.monotonic() > deadline or any(worker.poll() is not None for worker in workers):
            _stop(workers)
            log.seek(0)
            raise RuntimeError(
                f"the rq workers did not start:\n{log.read().decode(errors='replace')[-3000:]}"
            )
        time.sleep(0.1)
    return workers


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


# ---- the two measurements ------------------------------------------------------------------------------


def _baseline(port: int, secret: str) -> tuple[list[float], float]:
    """The same signed POSTs, sent by a plain loop over one kept-alive connection: per-request latency and
    total time."""
    from django.utils import timezone

    from tenant_apps.webhooks import signing

    latencies = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    for index in range(EVENTS):
        event_id = str(uuid.uuid4())
        payload = {
            "id": event_id,
            "type": "lead.created",
            "occurred_at": timezone.now().isoformat(),
            "record": {"type": "lead", "id": -1 - index},
            "actor_id": None,
            "data": {"stage": "NEW"},
        }
        body = signing.body_of(payload)
        headers = {
            "Content-Type": "application/json",
            signing.EVENT_ID_HEADER: event_id,
            signing.SIGNATURE_HEADER: signing.signature_header(secret, int(time.time()), body),
        }
        sent = time.perf_counter()
        conn.request("POST", "/hook", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"baseline POST failed: {response.status}")
        latencies.append(time.perf_counter() - sent)
    total = time.perf_counter() - start
    conn.close()
    return latencies, total


def _wait_for(port: int, lead_ids: set[int]) -> list[tuple[str, int, float]]:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        notes = [note for note in _notes(port) if note[1] in lead_ids]
        if len({lead_id for _, lead_id, _ in notes}) >= len(lead_ids):
            return notes
        time.sleep(0.2)
    raise RuntimeError(f"not every event arrived within {DRAIN_TIMEOUT:.0f} s")


def _one_by_one(port: int, admin: Any) -> dict[str, Any]:
    """EVENTS_SERIAL leads created one transaction each, as fast as one process can."""
    from tenant_apps.leads.services import lead_create

    committed: dict[int, float] = {}
    start = time.perf_counter()
    for index in range(EVENTS_SERIAL):
        lead = lead_create(actor=admin, name=f"Hook lead {index}", tags=[CREATED_TAG], allow_duplicate=True)
        committed[lead.pk] = time.time()  # lead_create has committed when it returns
    produced = time.perf_counter() - start
    return {"committed": committed, "notes": _wait_for(port, set(committed)), "produced": produced}


def _burst(port: int, admin: Any) -> dict[str, Any]:
    """EVENTS leads created in one transaction (an import): every job is enqueued at the same commit."""
    from django.db import transaction

    from tenant_apps.leads.services import lead_create

    start = time.perf_counter()
    committed_at: list[float] = []
    with transaction.atomic():
        # the first on-commit callback: it runs right after COMMIT, before the ones that hand the events to
        # the delivery job (their cost is part of commit -> received)
        transaction.on_commit(lambda: committed_at.append(time.time()))
        ids = [
            lead_create(actor=admin, name=f"Burst lead {index}", tags=[CREATED_TAG], allow_duplicate=True).pk
            for index in range(EVENTS)
        ]
    produced = time.perf_counter() - start
    return {
        "committed": dict.fromkeys(ids, committed_at[0]),
        "notes": _wait_for(port, set(ids)),
        "produced": produced,
    }


def _report(title: str, run: dict[str, Any], baseline_rate: float, *, target: bool = False) -> float:
    committed: dict[int, float] = run["committed"]
    first_received: dict[int, float] = {}
    for _, lead_id, at in sorted(run["notes"], key=lambda note: note[2]):
        first_received.setdefault(lead_id, at)
    latencies = [first_received[lead_id] - committed[lead_id] for lead_id in committed]
    span = max(first_received.values()) - min(committed.values())
    rate = len(committed) / span
    print(f"  {title}")
    _line("commit -> received", latencies)
    verdict = f"; target >= {TARGET:,.0f}/s: {'met' if rate >= TARGET else 'NOT met'}" if target else ""
    print(
        f"    {rate:.0f} deliveries/s (commit -> last received: {span:.2f} s; "
        f"{rate / baseline_rate:.2f}x the baseline){verdict}; producing took {run['produced']:.1f} s "
        f"({len(committed) / run['produced']:.0f} commits/s); "
        f"{len(run['notes']) - len(first_received)} duplicate receipts"
    )
    return rate


def main() -> None:
    os.environ["WEBHOOKS_ALLOW_PRIVATE_URLS"] = "true"  # the receiver is on 127.0.0.1
    redis_db = bench_redis("BENCH_WEBHOOKS_REDIS_DB", 9)
    setup_django("_bench_webhooks")
    from django_tenants.utils import schema_context

    from shared_apps.organizations.context import organization_context
    from shared_apps.users.models import Role, User
    from tenant_apps.webhooks.models import Delivery
    from tenant_apps.webhooks.services import endpoint_create

    organization = _organization()
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    receiver = context.Process(target=_receiver, args=(ports,), daemon=True)
    receiver.start()
    port = int(ports.get(timeout=30))
    url = f"http://127.0.0.1:{port}/hook"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "LOG_LEVEL": "WARNING"}
    workers: list[subprocess.Popen[bytes]] = []
    load_before = os.getloadavg()
    try:
        # as a request or a job runs (the organization's row as the connection's tenant), not a bare
        # schema_context: subscribers that look the organization up then find it without a query
        with organization_context(organization):
            _clean()
            _empty_queues()
            admin = User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk").first()
            created = endpoint_create(actor=admin, url=url, event_types=["lead.created"])
            baseline, baseline_total = _baseline(port, created.secret)
            workers = _start_workers(env)
            one_by_one = _one_by_one(port, admin)
            burst = _burst(port, admin)
            statuses = dict(Counter(Delivery.objects.values_list("status", flat=True)))
    finally:
        _stop(workers)
        receiver.terminate()
        with schema_context(organization.schema_name):
            _clean()
            _empty_queues()
    load_after = os.getloadavg()

    from django.conf import settings

    kind = WORKER_CLASS or settings.RQ.get("WORKER_CLASS", "rq.Worker")
    baseline_rate = EVENTS / baseline_total
    print(
        f"\nWebhook outbox: {WORKERS} worker process(es) ({kind}), Redis db {redis_db}, {os.cpu_count()} CPUs"
    )
    print("  baseline: the same signed POSTs from a plain loop over one kept-alive connection")
    _line("POST -> answered", baseline)
    print(f"    {baseline_rate:.0f} POSTs/s")
    _report(
        f"outbox, {EVENTS_SERIAL} events one transaction each (latency at the producer's pace):",
        one_by_one,
        baseline_rate,
    )
    _report(
        f"outbox, {EVENTS} events in one transaction (sustained throughput of the delivery side):",
        burst,
        baseline_rate,
        target=True,
    )
    print(f"  deliveries by status: {statuses}")
    print(f"  load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")


def _line(name: str, samples: list[float]) -> None:
    stats = summary(samples)
    p50, p95, mean = stats["p50"] * 1000, stats["p95"] * 1000, statistics.fmean(samples) * 1000
    print(f"    {name:<20} n={stats['n']:<5} p50={p50:8.2f} ms  p95={p95:8.2f} ms  mean={mean:8.2f} ms")
