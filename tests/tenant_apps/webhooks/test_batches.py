"""Batched delivery (tenant_apps.webhooks.batches): one job per organization, deliveries sent per endpoint
in the order their events were committed, over a kept-alive connection; failures handled per delivery."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import django_rq
import pytest
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from tenant_apps.leads import services as lead_services
from tenant_apps.webhooks import batches, jobs, signing, transport
from tenant_apps.webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus
from tests.tenant_apps.webhooks.conftest import SECRET, documented_verifier


@dataclass
class KeepAliveReceiver:
    """An HTTP/1.1 receiver (connections kept alive) noting each request's client port and record id;
    `statuses` answers the n-th request (1-based) with another status than 200."""

    port: int = 0
    requests: list[tuple[int, int, dict[str, str], bytes]] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def record_ids(self, status: int | None = 200) -> list[int]:
        return [
            json.loads(body)["record"]["id"]
            for number, (_, _, _, body) in enumerate(self.requests, start=1)
            if status is None or self.statuses.get(number, 200) == status
        ]


@pytest.fixture
def keepalive() -> Iterator[KeepAliveReceiver]:
    state = KeepAliveReceiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.requests.append((self.client_address[1], 0, dict(self.headers.items()), body))
                status = state.statuses.get(len(state.requests), 200)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        transport.close_connections()
        server.shutdown()
        server.server_close()


def create_leads(org, admin, count: int, capture) -> list[int]:
    """`count` leads in one transaction (as an import commits them); its on-commit callbacks run."""
    with schema_context(org.schema_name), capture(execute=True):
        return [
            lead_services.lead_create(actor=admin, name=f"Batch {index}", allow_duplicate=True).pk
            for index in range(count)
        ]


def run_in(org, run_jobs, capture) -> list:
    with schema_context(org.schema_name), capture(execute=True):
        return run_jobs()


def test_one_transaction_of_many_events_is_one_job_sent_in_commit_order_over_one_connection(
    org, admin, keepalive, make_endpoint, run_jobs, django_capture_on_commit_callbacks
):
    make_endpoint(keepalive.url, ["lead.created"])
    lead_ids = create_leads(org, admin, 30, django_capture_on_commit_callbacks)
    assert django_rq.get_queue().count == 1  # not one job per event

    [job] = run_in(org, run_jobs, django_capture_on_commit_callbacks)
    assert job.is_finished, job.latest_result().exc_string
    assert keepalive.record_ids() == lead_ids  # in the order they were committed
    assert len({port for port, *_ in keepalive.requests}) == 1  # one kept-alive connection
    verify = documented_verifier()
    for _, _, headers, body in keepalive.requests:
        assert verify(SECRET, body, headers[signing.SIGNATURE_HEADER])
        assert headers[signing.ATTEMPT_HEADER] == "1"
    with schema_context(org.schema_name):
        assert set(Delivery.objects.values_list("status", "attempts")) == {("succeeded", 1)}
        assert DeliveryAttempt.objects.filter(outcome="succeeded", status_code=200).count() == 30


def test_events_committed_while_the_job_waits_join_it_and_later_ones_get_a_new_job(
    org, admin, keepalive, make_endpoint, run_jobs, django_capture_on_commit_callbacks
):
    make_endpoint(keepalive.url, ["lead.created"])
    first = create_leads(org, admin, 2, django_capture_on_commit_callbacks)
    second = create_leads(org, admin, 3, django_capture_on_commit_callbacks)
    assert django_rq.get_queue().count == 1
    run_in(org, run_jobs, django_capture_on_commit_callbacks)
    assert keepalive.record_ids() == first + second

    third = create_leads(org, admin, 2, django_capture_on_commit_callbacks)
    assert django_rq.get_queue().count == 1  # the job took the list as it started
    run_in(org, run_jobs, django_capture_on_commit_callbacks)
    assert keepalive.record_ids() == first + second + third


def test_a_retryable_failure_stops_the_batch_and_the_rest_is_handed_back_unsent(
    org, admin, keepalive, make_endpoint, run_jobs, django_capture_on_commit_callbacks
):
    make_endpoint(keepalive.url, ["lead.created"])
    keepalive.statuses = {3: 503}
    lead_ids = create_leads(org, admin, 6, django_capture_on_commit_callbacks)
    run_in(org, run_jobs, django_capture_on_commit_callbacks)

    assert keepalive.record_ids(status=None) == lead_ids[:3]  # the receiver is in trouble: stop there
    with schema_context(org.schema_name):
        by_lead = {
            delivery.event.payload["record"]["id"]: delivery
            for delivery in Delivery.objects.select_related("event")
        }
        assert [by_lead[lead_id].status for lead_id in lead_ids] == ["succeeded"] * 2 + ["pending"] * 4
        failed = by_lead[lead_ids[2]]
        assert (failed.attempts, failed.failures, failed.last_status_code) == (1, 1, 503)
        assert failed.next_attempt_at > timezone.now()  # its retry, with backoff
        for lead_id in lead_ids[3:]:  # never sent: no attempt counted, nothing in the log
            assert (by_lead[lead_id].attempts, by_lead[lead_id].failures) == (0, 0)
            assert not by_lead[lead_id].log.exists()
            assert by_lead[lead_id].next_attempt_at <= timezone.now()
    [scheduled] = django_rq.get_queue().scheduled_job_registry.get_job_ids()
    assert django_rq.get_queue().fetch_job(scheduled).args == (failed.pk,)

    # the next drain sends the rest, in order; the failed one comes back with its retry
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        batches.endpoint_drain(endpoint_id=failed.endpoint_id)
        assert keepalive.record_ids()[2:] == lead_ids[3:]
        Delivery.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())
        jobs.deliver_attempt(failed.pk)
        failed.refresh_from_db()
        assert (failed.status, failed.attempts) == ("succeeded", 2)
        assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_a_refused_event_fails_alone_and_the_batch_goes_on(
    org, admin, keepalive, make_endpoint, run_jobs, django_capture_on_commit_callbacks
):
    make_endpoint(keepalive.url, ["lead.created"])
    keepalive.statuses = {2: 400}
    lead_ids = create_leads(org, admin, 4, django_capture_on_commit_callbacks)
    run_in(org, run_jobs, django_capture_on_commit_callbacks)
    assert keepalive.record_ids(status=None) == lead_ids
    with schema_context(org.schema_name):
        statuses = {
            delivery.event.payload["record"]["id"]: delivery.status
            for delivery in Delivery.objects.select_related("event")
        }
        assert [statuses[lead_id] for lead_id in lead_ids] == [
            "succeeded",
            "failed",
            "succeeded",
            "succeeded",
        ]


def test_a_job_that_dies_mid_batch_hands_back_what_it_had_not_started(
    org, admin, keepalive, make_endpoint, run_jobs, django_capture_on_commit_callbacks, monkeypatch
):
    make_endpoint(keepalive.url, ["lead.created"])
    real_post, calls = transport.post, []

    def post_then_die(*args, **kwargs):
        calls.append(1)
        response = real_post(*args, **kwargs)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return response

    monkeypatch.setattr(transport, "post", post_then_die)
    create_leads(org, admin, 5, django_capture_on_commit_callbacks)
    [job] = run_in(org, run_jobs, django_capture_on_commit_callbacks)
    assert job.is_failed
    with schema_context(org.schema_name):
        statuses = list(Delivery.objects.order_by("pk").values_list("status", "attempts"))
        # sent and recorded; in flight when it died (the lease decides); never started (handed back)
        assert statuses == [("succeeded", 1), ("sending", 1)] + [("pending", 0)] * 3
        assert DeliveryStatus.SENDING in Delivery.objects.values_list("status", flat=True)

    monkeypatch.setattr(transport, "post", real_post)
    with schema_context(org.schema_name):
        endpoint_id = Delivery.objects.values_list("endpoint_id", flat=True).first()
        batches.endpoint_drain(endpoint_id=endpoint_id)  # the lock was released when the job died
        assert Delivery.objects.filter(status="succeeded").count() == 4


def test_a_rolled_back_savepoint_sends_nothing_and_the_rest_of_its_transaction_is_sent(
    org, admin, keepalive, make_endpoint, run_jobs, django_capture_on_commit_callbacks
):
    make_endpoint(keepalive.url, ["lead.created"])
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        before = lead_services.lead_create(actor=admin, name="Before", allow_duplicate=True).pk
        with pytest.raises(RuntimeError), transaction.atomic():
            lead_services.lead_create(actor=admin, name="Rolled back", allow_duplicate=True)
            raise RuntimeError("rolled back")
        after = lead_services.lead_create(actor=admin, name="After", allow_duplicate=True).pk
    assert django_rq.get_queue().count == 1
    run_in(org, run_jobs, django_capture_on_commit_callbacks)
    assert keepalive.record_ids() == [before, after]
