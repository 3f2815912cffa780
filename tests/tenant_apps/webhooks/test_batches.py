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

from shared_apps.core import events
from tenant_apps.leads import services as lead_services
from tenant_apps.webhooks import batches, jobs, outbox, services, signing, transport
from tenant_apps.webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, OutboxEvent
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
                headers = {**dict(self.headers.items()), "X-Test-Path": self.path}
                state.requests.append((self.client_address[1], 0, headers, body))
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


def test_a_transaction_hands_all_its_events_over_in_one_call_before_other_after_commit_work(
    org, admin, keepalive, make_endpoint, django_capture_on_commit_callbacks, monkeypatch
):
    make_endpoint(keepalive.url, ["lead.created"])
    handed: list[tuple[str, ...]] = []
    waiting_seen: list[int] = []
    real_enqueue = outbox.enqueue_dispatch

    def counting_enqueue(schema: str, *event_ids: str, coalesce: bool = True) -> None:
        handed.append(event_ids)
        real_enqueue(schema, *event_ids, coalesce=coalesce)

    def other_subscriber(event) -> None:  # any after-commit subscriber (analytics, sequences...)
        if not waiting_seen:
            waiting_seen.append(django_rq.get_connection().llen(outbox._waiting_key(org.schema_name)))

    monkeypatch.setattr(outbox, "enqueue_dispatch", counting_enqueue)
    undo = events.subscribe("lead.created", other_subscriber)
    try:
        create_leads(org, admin, 12, django_capture_on_commit_callbacks)
    finally:
        undo()
    [ids] = handed  # one hand-off (one Redis round trip) for the transaction, not one per event
    with schema_context(org.schema_name):
        recorded = list(OutboxEvent.objects.order_by("created_at").values_list("pk", flat=True))
    assert list(ids) == [str(pk) for pk in recorded]
    assert waiting_seen == [12]  # all of them were waiting before the first other subscriber ran
    assert django_rq.get_queue().count == 1


def test_order_holds_across_drain_and_dispatch_batches_and_transactions(
    org, admin, keepalive, make_endpoint, run_jobs, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(batches, "DRAIN_BATCH", 4)
    monkeypatch.setattr(batches, "DISPATCH_BATCH", 3)
    make_endpoint(keepalive.url, ["lead.created"])
    first = create_leads(org, admin, 7, django_capture_on_commit_callbacks)
    second = create_leads(org, admin, 6, django_capture_on_commit_callbacks)
    assert django_rq.get_queue().count == 1
    [job] = run_in(org, run_jobs, django_capture_on_commit_callbacks)
    assert job.is_finished, job.latest_result().exc_string
    assert keepalive.record_ids() == first + second  # 4 drain batches, 5 dispatch batches, one order
    assert len({port for port, *_ in keepalive.requests}) == 1
    with schema_context(org.schema_name):
        assert set(Delivery.objects.values_list("status", "attempts")) == {("succeeded", 1)}


def test_a_failed_batch_is_retried_signed_afresh_and_the_rest_follows_in_order(
    org, admin, keepalive, make_endpoint, run_jobs, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(batches, "DRAIN_BATCH", 3)
    make_endpoint(keepalive.url, ["lead.created"])
    keepalive.statuses = {1: 503}  # the receiver is down for the batch's first POST
    lead_ids = create_leads(org, admin, 5, django_capture_on_commit_callbacks)
    run_in(org, run_jobs, django_capture_on_commit_callbacks)
    assert keepalive.record_ids(status=None) == lead_ids[:1]
    with schema_context(org.schema_name):
        failed = Delivery.objects.get(event__payload__record__id=lead_ids[0])
        assert (failed.status, failed.attempts, failed.failures) == ("pending", 1, 1)
        assert set(Delivery.objects.exclude(pk=failed.pk).values_list("status", "attempts")) == {
            ("pending", 0)
        }

    # the retry comes due (rq's scheduler would run it): it is sent again, then the drain sends the rest
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        Delivery.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())
        assert jobs.deliver_attempt(failed.pk) == "succeeded"
        batches.endpoint_drain(endpoint_id=failed.endpoint_id)
    assert keepalive.record_ids(status=None) == [lead_ids[0], lead_ids[0], *lead_ids[1:]]
    verify = documented_verifier()
    first_try, retry = keepalive.requests[0][2], keepalive.requests[1][2]
    assert first_try[signing.EVENT_ID_HEADER] == retry[signing.EVENT_ID_HEADER]  # receivers dedupe on it
    assert (first_try[signing.ATTEMPT_HEADER], retry[signing.ATTEMPT_HEADER]) == ("1", "2")
    for _, _, headers, body in keepalive.requests:
        assert verify(SECRET, body, headers[signing.SIGNATURE_HEADER])
    with schema_context(org.schema_name):
        assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_each_delivery_of_a_batch_is_signed_with_its_own_endpoints_secret(
    org, admin, keepalive, run_jobs, django_capture_on_commit_callbacks
):
    secrets = {
        "/one": "whsec_first-endpoint-secret-0000000000",
        "/two": "whsec_second-endpoint-secret-111111",
    }
    with schema_context(org.schema_name):
        for path, secret in secrets.items():
            services.endpoint_create(
                actor=admin, url=keepalive.url.replace("/hook", path), event_types=["lead.*"], secret=secret
            )
    lead_ids = create_leads(org, admin, 4, django_capture_on_commit_callbacks)
    run_in(org, run_jobs, django_capture_on_commit_callbacks)

    verify = documented_verifier()
    assert len(keepalive.requests) == 8
    by_path: dict[str, list[int]] = {}
    for _, _, headers, body in keepalive.requests:
        path = headers["X-Test-Path"]
        own, other = secrets[path], next(secret for key, secret in secrets.items() if key != path)
        assert verify(own, body, headers[signing.SIGNATURE_HEADER])
        assert not verify(other, body, headers[signing.SIGNATURE_HEADER])
        by_path.setdefault(path, []).append(json.loads(body)["record"]["id"])
    assert by_path == {"/one": lead_ids, "/two": lead_ids}  # each endpoint in commit order
    assert len({headers[signing.DELIVERY_HEADER] for _, _, headers, _ in keepalive.requests}) == 8
