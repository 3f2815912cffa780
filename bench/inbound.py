"""Inbound email: messages accepted and threaded per second, end to end, through the real processes.

`manage.py inbound_smtp` (the receiver, its own process) takes BENCH_INBOUND_MESSAGES (600) messages over
BENCH_INBOUND_CLIENTS (4) concurrent SMTP connections (smtplib, one session each); BENCH_INBOUND_WORKERS (2)
`manage.py rqworker default` processes parse and record them (the worker class every deployment runs,
settings.RQ["WORKER_CLASS"]: no fork per job; or BENCH_INBOUND_WORKER_CLASS, e.g. rq.Worker to compare), each
drain job taking what waits for the organization in batches (shared_apps.mailroute.pending,
tenant_apps.mail.batch).
Every message is from the bench lead and answers the one before it (In-Reply-To), so each is matched,
threaded and recorded on the lead's timeline. The target: >= 100 messages/s end to end.

- accepted/s: messages / (first MAIL FROM -> last 250 after DATA);
- end to end/s: messages / (first MAIL FROM -> last message recorded, its InboundMessage processed_at).

The baseline, measured in the same run: the same raw messages POSTed to the plain API that records an email
on a lead (`POST /api/leads/<id>/emails/` with `raw`), by as many concurrent clients, to uvicorn as `make up`
runs it. BENCH_INBOUND_RUNS (3) runs of each; the medians are quoted with the machine's load average.

Runs on `<db>_bench_inbound` and a Redis database of its own on REDIS_URL's server (BENCH_INBOUND_REDIS_DB,
10; refused while another worker is registered there); the `benchmail` organization stays between runs, its
messages and timeline do not.
"""

from __future__ import annotations

import http.client
import json
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from bench.common import (
    bench_organization,
    bench_redis,
    concurrently,
    free_port,
    setup_django,
    share,
    start_uvicorn,
)

MESSAGES = int(os.environ.get("BENCH_INBOUND_MESSAGES", "600"))
CLIENTS = int(os.environ.get("BENCH_INBOUND_CLIENTS", "4"))
WORKERS = int(os.environ.get("BENCH_INBOUND_WORKERS", "2"))
WORKER_CLASS = os.environ.get("BENCH_INBOUND_WORKER_CLASS", "")  # "" = settings.RQ["WORKER_CLASS"]
RUNS = int(os.environ.get("BENCH_INBOUND_RUNS", "3"))
DRAIN_TIMEOUT = float(os.environ.get("BENCH_INBOUND_TIMEOUT", "600"))
SLUG = "benchmail"
PASSWORD = "bench-password-2026"
SENDER = "buyer@benchmail-customer.example"
TAG = "bench-inbound"
ROOT = Path(__file__).resolve().parent.parent


def _clean() -> None:
    """Inside the bench schema: the previous run's messages, timeline and lead."""
    from django.db import transaction

    from shared_apps.core.db import connection
    from tenant_apps.leads.models import Lead
    from tenant_apps.mail.models import Attachment, InboundMessage

    Attachment.objects.all().delete()
    InboundMessage.objects.all().delete()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL leadpulse.purge = 'on'")  # the timeline's append-only escape hatch
        Lead.objects.filter(tags__contains=[TAG]).delete()


def _messages(dropbox: str, run: str) -> list[bytes]:
    """MESSAGES raw messages from the bench lead, each answering the one before."""
    raws = []
    previous = ""
    root = f"<bench-{run}-0@benchmail-customer.example>"
    for index in range(MESSAGES):
        message = EmailMessage()
        message["From"] = f"Bench Buyer <{SENDER}>"
        message["To"] = dropbox
        message["Subject"] = f"Re: quote {run}"
        message["Date"] = format_datetime(datetime.now(UTC))
        message_id = f"<bench-{run}-{index}@benchmail-customer.example>"
        message["Message-ID"] = message_id
        if previous:
            # as mail clients write it: the thread's first message and the one answered (RFC 5322 3.6.4)
            message["In-Reply-To"] = previous
            message["References"] = previous if previous == root else f"{root} {previous}"
        message.set_content(f"Message {index} of the bench thread.\n\nThanks,\nBench Buyer\n")
        message.add_alternative(f"<p>Message <b>{index}</b> of the bench thread.</p>", subtype="html")
        raws.append(message.as_bytes(policy=policy.SMTP))
        previous = message_id
    return raws


def _send_smtp(port: int, dropbox: str, raws: list[bytes]) -> float:
    """Every message over CLIENTS concurrent sessions; returns seconds to the last 250."""
    errors: list[BaseException] = []

    def client(share: list[bytes]) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as session:
                for raw in share:
                    session.sendmail(SENDER, [dropbox], raw)
        except BaseException as error:
            errors.append(error)

    elapsed = concurrently(client, share(raws, CLIENTS))
    if errors:
        raise RuntimeError(f"sending failed: {errors[0]!r}")
    return elapsed


def _post_api(port: int, host: str, token: str, lead_id: int, raws: list[bytes]) -> float:
    """The same raw messages POSTed to the API over CLIENTS concurrent connections; returns seconds."""
    errors: list[str] = []

    def client(share: list[bytes]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Host": host, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            for raw in share:
                body = json.dumps({"raw": raw.decode("utf-8", "replace")})
                connection.request("POST", f"/api/leads/{lead_id}/emails/", body, headers)
                response = connection.getresponse()
                payload = response.read()
                if response.status not in (200, 201):
                    errors.append(f"{response.status} {payload[:200]!r}")
                    return
        finally:
            connection.close()

    elapsed = concurrently(client, share(raws, CLIENTS))
    if errors:
        raise RuntimeError(f"API POST failed: {errors[0]}")
    return elapsed


def _wait_recorded(run: str, started_at: float) -> tuple[float, int]:
    """Seconds from `started_at` (epoch) to the last message processed; and how many were threaded."""
    from tenant_apps.activities.models import Activity
    from tenant_apps.mail.models import InboundMessage

    prefix = f"<bench-{run}-"
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        done = InboundMessage.objects.filter(message_id__startswith=prefix, processed_at__isnull=False)
        if done.count() >= MESSAGES:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done.count()} of {MESSAGES} messages were processed in time")
        time.sleep(0.2)
    last = max(done.values_list("processed_at", flat=True))
    root = f"<bench-{run}-0@benchmail-customer.example>"
    threaded = Activity.objects.filter(message_id__startswith=prefix, thread_id=root).count()
    return last.timestamp() - started_at, threaded


def _bench_lead(admin: Any) -> Any:
    from tenant_apps.leads.services import lead_create

    return lead_create(actor=admin, name="Bench Buyer", email=SENDER, tags=[TAG], allow_duplicate=True)


def _start_process(command: list[str], env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)  # noqa: S603


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Any) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"the receiver did not start:\n{output}") from None
            time.sleep(0.1)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    bench_redis("BENCH_INBOUND_REDIS_DB", 10)
    os.environ.setdefault("INBOUND_DOMAIN", "benchmail.example")
    setup_django("_bench_inbound")
    import django_rq
    from django.conf import settings
    from django_tenants.utils import schema_context

    from shared_apps.mailroute.addresses import dropbox_address
    from shared_apps.users.models import User
    from shared_apps.users.services import token_issue, token_revoke

    organization = bench_organization(SLUG, "Bench mail", PASSWORD)
    dropbox = dropbox_address(organization)
    host = f"{SLUG}.{settings.BASE_DOMAIN}"
    for name in ("default", "low"):
        django_rq.get_queue(name).empty()

    env = {
        **os.environ,
        "DEBUG": "0",
        # the baseline's POSTs are not what is measured against the plan's request limit
        **{f"THROTTLE_{plan}": "1000000/min" for plan in ("FREE", "TEAM", "BUSINESS", "ENTERPRISE")},
    }
    log = tempfile.TemporaryFile()  # noqa: SIM115 (read if a process fails to start)
    smtp_port, web_port = free_port(), free_port()
    receiver = _start_process(
        [sys.executable, "manage.py", "inbound_smtp", "--host", "127.0.0.1", "--port", str(smtp_port)],
        env,
        log,
    )
    worker_command = [sys.executable, "manage.py", "rqworker", "default"]
    if WORKER_CLASS:
        worker_command += ["--worker-class", WORKER_CLASS]
    workers = [_start_process(worker_command, env, log) for _ in range(WORKERS)]
    web = start_uvicorn(env, web_port)
    processes = [receiver, *workers, web]
    load_before = os.getloadavg()
    rows: dict[str, list[float]] = {"accepted": [], "end_to_end": [], "api": []}
    threaded_ok = True
    try:
        _wait_port(smtp_port, receiver, log)
        for run_index in range(RUNS):
            with schema_context(organization.schema_name):
                _clean()
                admin = User.objects.get(email=f"admin@{SLUG}.example")
                lead = _bench_lead(admin)
            run = uuid.uuid4().hex[:8]
            raws = _messages(dropbox, run)
            started_at = time.time()
            accepted = _send_smtp(smtp_port, dropbox, raws)
            with schema_context(organization.schema_name):
                recorded, threaded = _wait_recorded(run, started_at)
            threaded_ok = threaded_ok and threaded == MESSAGES
            rows["accepted"].append(MESSAGES / accepted)
            rows["end_to_end"].append(MESSAGES / recorded)
            # the baseline: the same messages (new ids) to the plain API, same concurrency
            with schema_context(organization.schema_name):
                _clean()
                lead = _bench_lead(admin)
                raw_token, token = token_issue(email=admin.email, password=PASSWORD)
            api_raws = _messages(dropbox, uuid.uuid4().hex[:8])
            posted = _post_api(web_port, host, raw_token, lead.pk, api_raws)
            rows["api"].append(MESSAGES / posted)
            with schema_context(organization.schema_name):
                token_revoke(token=token)
            print(
                f"  run {run_index + 1}: accepted {rows['accepted'][-1]:.0f}/s, end to end "
                f"{rows['end_to_end'][-1]:.0f}/s ({threaded}/{MESSAGES} in one thread), "
                f"API POST {rows['api'][-1]:.0f}/s"
            )
    finally:
        _stop(processes)
        with schema_context(organization.schema_name):
            _clean()
    load_after = os.getloadavg()
    api = statistics.median(rows["api"])
    print(
        f"\nInbound email, {MESSAGES} messages x {RUNS} runs, {CLIENTS} SMTP clients, {WORKERS} "
        f"{WORKER_CLASS or settings.RQ.get('WORKER_CLASS', 'rq.Worker')} workers, {os.cpu_count()} CPUs"
    )
    for name, label in (
        ("accepted", "accepted by SMTP (250 after DATA)"),
        ("end_to_end", "accepted -> parsed, threaded, recorded"),
        ("api", "baseline: POST /api/leads/<id>/emails/"),
    ):
        median = statistics.median(rows[name])
        print(
            f"  {label:<42} median {median:7.0f} msg/s  (runs: "
            f"{', '.join(f'{rate:.0f}' for rate in rows[name])})  ratio to baseline {median / api:.2f}x"
        )
    print(f"  every message threaded: {'yes' if threaded_ok else 'NO'}; target >= 100/s end to end")
    print(f"  load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
