"""Outbound email: the send path's throughput, members' emails through the API to a real SMTP sink.

BENCH_OUTBOUND_MESSAGES (300) `POST /api/leads/<id>/emails/send/` over BENCH_OUTBOUND_CLIENTS (4) concurrent
keep-alive connections to uvicorn as `make up` runs it, Django's SMTP backend pointed (EMAIL_URL) at an
aiosmtpd sink in this process. Each request checks the do-not-contact list and bounces, makes a reply
address, sends (one SMTP session per message, as Django's backend does for a single send()) and records
the EMAIL activity.

- API send/s: messages / (first POST -> last 201), and every message counted at the sink.

The baseline, measured in the same run: the same messages (same headers and body) sent with plain smtplib
to the same sink, by as many concurrent clients, one SMTP session per message. BENCH_OUTBOUND_RUNS (3) runs
of each; the medians are quoted with the machine's load average.

Runs on `<db>_bench` and a Redis database of its own (BENCH_OUTBOUND_REDIS_DB, 13); the `benchsend`
organization stays between runs, its leads, timeline and reply threads do not.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import smtplib
import statistics
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from bench.common import (
    bench_organization,
    concurrently,
    free_port,
    own_redis,
    setup_django,
    share,
    start_uvicorn,
)

MESSAGES = int(os.environ.get("BENCH_OUTBOUND_MESSAGES", "300"))
CLIENTS = int(os.environ.get("BENCH_OUTBOUND_CLIENTS", "4"))
RUNS = int(os.environ.get("BENCH_OUTBOUND_RUNS", "3"))
REDIS_DB = int(os.environ.get("BENCH_OUTBOUND_REDIS_DB", "13"))
SLUG = "benchsend"
PASSWORD = "bench-password-2026"
RECIPIENT = "buyer@benchsend-customer.example"
TAG = "bench-outbound"


class Sink:
    """An SMTP server that counts what it accepts (aiosmtpd, in a thread of this process)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.count += 1
        return "250 Message accepted for delivery"


def _clean() -> None:
    """Inside the bench schema: the previous run's lead, its timeline and reply threads."""
    from django.db import transaction

    from shared_apps.core.db import connection
    from tenant_apps.leads.models import Lead
    from tenant_apps.mail.models import ReplyThread

    ReplyThread.objects.all().delete()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL leadpulse.purge = 'on'")  # the timeline's append-only escape hatch
        Lead.objects.filter(tags__contains=[TAG]).delete()


def _bodies(run: str) -> list[dict[str, str]]:
    return [
        {"subject": f"Quote {run} #{index}", "body": f"Hello,\n\nhere is quote {index}.\n\nBest,\nBench\n"}
        for index in range(MESSAGES)
    ]


def _post_api(port: int, host: str, token: str, lead_id: int, bodies: list[dict[str, str]]) -> float:
    errors: list[str] = []

    def client(share: list[dict[str, str]]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Host": host, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            for body in share:
                connection.request("POST", f"/api/leads/{lead_id}/emails/send/", json.dumps(body), headers)
                response = connection.getresponse()
                payload = response.read()
                if response.status != 201:
                    errors.append(f"{response.status} {payload[:300]!r}")
                    return
        finally:
            connection.close()

    elapsed = concurrently(client, share(bodies, CLIENTS))
    if errors:
        raise RuntimeError(f"API send failed: {errors[0]}")
    return elapsed


def _send_smtplib(port: int, sender: str, bodies: list[dict[str, str]]) -> float:
    """The same messages, with the headers the API's sends carry, by plain smtplib (a session each)."""
    errors: list[BaseException] = []

    def client(share: list[dict[str, str]]) -> None:
        try:
            for body in share:
                message = EmailMessage()
                message["From"] = sender
                message["To"] = RECIPIENT
                message["Subject"] = body["subject"]
                message["Reply-To"] = "reply+1-1-00000000000000000000@benchsend.example"
                message["Message-ID"] = make_msgid(domain="benchsend.example")
                message["Date"] = format_datetime(datetime.now(UTC))
                message["X-LeadPulse-Loop"] = SLUG
                message.set_content(body["body"])
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as session:
                    session.send_message(message)
        except BaseException as error:
            errors.append(error)

    elapsed = concurrently(client, share(bodies, CLIENTS))
    if errors:
        raise RuntimeError(f"smtplib send failed: {errors[0]!r}")
    return elapsed


def main() -> None:
    own_redis(REDIS_DB)
    os.environ.setdefault("INBOUND_DOMAIN", "benchsend.example")
    setup_django()
    from aiosmtpd.controller import Controller
    from django.conf import settings
    from django_tenants.utils import schema_context

    from shared_apps.users.models import User
    from shared_apps.users.services import token_issue, token_revoke
    from tenant_apps.leads.services import lead_create

    organization = bench_organization(SLUG, "Bench send", PASSWORD)
    host = f"{SLUG}.{settings.BASE_DOMAIN}"
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command
    sink = Sink()
    smtp_port, web_port = free_port(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = {
        **os.environ,
        "DEBUG": "0",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        # the sends are not what is measured against the plan's request limit
        **{f"THROTTLE_{plan}": "1000000/min" for plan in ("FREE", "TEAM", "BUSINESS", "ENTERPRISE")},
    }
    web = start_uvicorn(env, web_port)
    load_before = os.getloadavg()
    rows: dict[str, list[float]] = {"api": [], "smtplib": []}
    delivered_ok = True
    try:
        for run_index in range(RUNS):
            with schema_context(organization.schema_name):
                _clean()
                admin = User.objects.get(email=f"admin@{SLUG}.example")
                lead = lead_create(
                    actor=admin, name="Bench Buyer", email=RECIPIENT, tags=[TAG], allow_duplicate=True
                )
                raw_token, token = token_issue(email=admin.email, password=PASSWORD)
            run = f"{run_index}"
            before = sink.count
            posted = _post_api(web_port, host, raw_token, lead.pk, _bodies(run))
            delivered_ok = delivered_ok and sink.count - before == MESSAGES
            rows["api"].append(MESSAGES / posted)
            with schema_context(organization.schema_name):
                token_revoke(token=token)
            before = sink.count
            sent = _send_smtplib(smtp_port, f"Admin <{admin.email}>", _bodies(run))
            delivered_ok = delivered_ok and sink.count - before == MESSAGES
            rows["smtplib"].append(MESSAGES / sent)
            print(
                f"  run {run_index + 1}: API send {rows['api'][-1]:.0f}/s, "
                f"plain smtplib {rows['smtplib'][-1]:.0f}/s"
            )
    finally:
        web.terminate()
        web.wait(timeout=20)
        controller.stop()
        with schema_context(organization.schema_name):
            _clean()
    load_after = os.getloadavg()
    baseline = statistics.median(rows["smtplib"])
    print(f"\nOutbound email, {MESSAGES} messages x {RUNS} runs, {CLIENTS} clients, {os.cpu_count()} CPUs")
    for name, label in (
        ("api", "POST /api/leads/<id>/emails/send/"),
        ("smtplib", "baseline: plain smtplib, a session each"),
    ):
        median = statistics.median(rows[name])
        print(
            f"  {label:<42} median {median:7.0f} msg/s  (runs: "
            f"{', '.join(f'{rate:.0f}' for rate in rows[name])})  ratio to baseline {median / baseline:.2f}x"
        )
    print(f"  every message at the sink: {'yes' if delivered_ok else 'NO'}")
    print(f"  load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
