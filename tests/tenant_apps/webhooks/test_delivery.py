"""Deliveries end to end: outbox in the change's transaction, rq jobs on real Redis, a real HTTP receiver."""

import json
from datetime import timedelta

import django_rq
import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.core import events
from shared_apps.users.models import Role, User
from tenant_apps.activities.services import activity_log
from tenant_apps.leads import services as lead_services
from tenant_apps.notifications.models import Notification
from tenant_apps.webhooks import delivery as webhook_delivery
from tenant_apps.webhooks import jobs, services, transport
from tenant_apps.webhooks.models import AttemptOutcome, Delivery, DeliveryStatus, Endpoint, OutboxEvent
from tests.conftest import client_for
from tests.tenant_apps.webhooks.conftest import SECRET, documented_verifier


@pytest.fixture
def deliver(run_jobs, django_capture_on_commit_callbacks):
    """deliver(fn, *args) runs fn in acme's schema, commits (callbacks run), then runs the queued jobs."""

    def run(org, fn, *args, **kwargs):
        with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
            result = fn(*args, **kwargs)
        if django_rq.get_queue().count:  # (an empty run still costs the worker's 1 s shutdown)
            # what the jobs leave for commit time runs too, in the schema, as in a worker
            with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
                run_jobs()
        return result

    return run


def only_delivery(org):
    with schema_context(org.schema_name):
        return Delivery.objects.select_related("endpoint", "event").get()


def test_a_lead_created_is_delivered_signed_with_a_stable_event_id(
    org, admin, receiver, make_endpoint, deliver
):
    endpoint = make_endpoint(receiver.url, ["lead.created"])
    lead = deliver(org, lead_services.lead_create, actor=admin, name="Jane Roe", allow_duplicate=True)

    [request] = receiver.requests
    verify = documented_verifier()
    signature = request.headers["X-LeadPulse-Signature"]
    assert verify(SECRET, request.body, signature)
    assert not verify("whsec_some-other-secret-entirely", request.body, signature)
    assert not verify(SECRET, request.body.replace(b"Jane", b"John") + b" ", signature)
    payload = request.json
    assert payload["type"] == request.headers["X-LeadPulse-Event-Type"] == "lead.created"
    assert payload["id"] == request.event_id
    assert payload["record"] == {"type": "lead", "id": lead.pk}
    assert payload["actor_id"] == admin.pk
    assert payload["data"] == {"stage": "NEW"}
    assert request.headers["X-LeadPulse-Attempt"] == "1"

    delivery = only_delivery(org)
    assert str(delivery.event_id) == request.event_id
    assert (delivery.status, delivery.attempts, delivery.endpoint_id) == ("succeeded", 1, endpoint.pk)
    with schema_context(org.schema_name):
        [attempt] = delivery.log.all()
        assert (attempt.outcome, attempt.status_code, attempt.response_excerpt) == ("succeeded", 200, "ok")
        assert attempt.latency_ms is not None and attempt.finished_at is not None
        assert Endpoint.objects.get(pk=endpoint.pk).last_success_at is not None


def test_an_old_signature_is_refused_by_the_documented_snippet():
    import time

    from tenant_apps.webhooks import signing

    verify, body = documented_verifier(), b'{"id":"x"}'
    now = int(time.time())
    assert verify(SECRET, body, signing.signature_header(SECRET, now, body))
    assert not verify(SECRET, body, signing.signature_header(SECRET, now - 3600, body))
    assert not verify(SECRET, body, "garbage")
    assert not verify(SECRET, body, "t=abc,v1=00")


def test_stage_changes_carry_from_and_to_and_wildcards_match(
    org, admin, receiver, make_endpoint, deliver, make_lead
):
    make_endpoint(receiver.url, ["lead.*"])
    lead = make_lead()  # no callbacks run: its lead.created event is in the outbox, its job never queued
    deliver(
        org, lead_services.lead_transition, lead_id=lead.pk, to_stage="CONTACTED", actor=admin, reason="rang"
    )
    [request] = receiver.requests
    assert request.json["type"] == "lead.stage_changed"
    assert request.json["data"] == {"from": "NEW", "to": "CONTACTED"}


def test_activities_logged_on_any_record_are_activity_created(
    org, admin, receiver, make_endpoint, deliver, make_lead
):
    lead = make_lead()
    make_endpoint(receiver.url, ["activity.created"])
    activity = deliver(org, activity_log, actor=admin, type="CALL", lead_id=lead.pk, subject="Intro call")
    deliver(org, activity_log, actor=admin, type="NOTE", lead_id=lead.pk, body="Prefers email")
    first, second = (request.json for request in receiver.requests)
    assert first["type"] == second["type"] == "activity.created"
    assert first["record"] == second["record"] == {"type": "lead", "id": lead.pk}
    assert first["data"] == {"activity_type": "CALL", "activity_id": activity.pk}
    assert second["data"]["activity_type"] == "NOTE"


def test_events_nobody_subscribed_to_write_nothing(org, admin, receiver, make_endpoint, deliver):
    make_endpoint(receiver.url, ["task.*"])
    deliver(org, lead_services.lead_create, actor=admin, name="Nobody listens", allow_duplicate=True)
    with schema_context(org.schema_name):
        assert not OutboxEvent.objects.exists()
    assert receiver.requests == []


def test_a_rolled_back_change_writes_no_outbox_row_and_sends_nothing(
    org, admin, receiver, make_endpoint, deliver
):
    make_endpoint(receiver.url, ["lead.created"])

    def create_then_fail():
        with transaction.atomic():
            lead_services.lead_create(actor=admin, name="Never was", allow_duplicate=True)
            assert OutboxEvent.objects.count() == 1  # written inside the change's transaction...
            raise RuntimeError("the change fails after the event was published")

    with pytest.raises(RuntimeError):
        deliver(org, create_then_fail)
    with schema_context(org.schema_name):
        assert not OutboxEvent.objects.exists()  # ...and gone with it
    assert django_rq.get_queue().count == 0
    assert receiver.requests == []


def test_the_topic_cache_follows_endpoint_changes(org, admin, receiver, make_endpoint, deliver):
    deliver(org, lead_services.lead_create, actor=admin, name="Before", allow_duplicate=True)  # caches "none"
    endpoint = make_endpoint(receiver.url, ["lead.created"])
    deliver(org, lead_services.lead_create, actor=admin, name="After", allow_duplicate=True)
    assert [request.json["type"] for request in receiver.requests] == ["lead.created"]
    with schema_context(org.schema_name):
        services.endpoint_update(endpoint_id=endpoint.pk, actor=admin, changes={"event_types": ["task.*"]})
    deliver(org, lead_services.lead_create, actor=admin, name="Unsubscribed", allow_duplicate=True)
    assert len(receiver.requests) == 1


def test_an_organization_s_events_never_reach_another_s_endpoints(
    org, other_org, receiver, make_endpoint, make_lead, run_jobs, django_capture_on_commit_callbacks
):
    make_endpoint(receiver.url, ["lead.created"], organization=org)
    with django_capture_on_commit_callbacks(execute=True):
        make_lead(organization=other_org, name="Globex lead")
    assert django_rq.get_queue().count == 0
    assert receiver.requests == []
    with schema_context(other_org.schema_name):
        assert not OutboxEvent.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        lead = make_lead(organization=org, name="Acme lead")
    run_jobs()
    assert [request.json["record"]["id"] for request in receiver.requests] == [lead.pk]


def test_failures_back_off_exponentially_then_the_endpoint_is_disabled_and_admins_notified(
    org, admin, member, receiver, make_endpoint, deliver, django_capture_on_commit_callbacks
):
    rep = member(role=Role.REP)
    receiver.fail_next, receiver.fail_status = 1000, 503
    endpoint = make_endpoint(receiver.url, ["lead.created"])
    deliver(org, lead_services.lead_create, actor=admin, name="Unlucky", allow_duplicate=True)

    delivery = only_delivery(org)
    assert (delivery.status, delivery.failures, delivery.last_status_code) == ("pending", 1, 503)
    # the retry is scheduled in rq (the worker's scheduler enqueues it when due)
    registry = django_rq.get_queue().scheduled_job_registry
    [job_id] = registry.get_job_ids()
    job = django_rq.get_queue().fetch_job(job_id)
    assert (job.func_name, job.args) == ("tenant_apps.webhooks.jobs.deliver_attempt", (delivery.pk,))
    scheduled = registry.get_scheduled_time(job)
    assert abs((scheduled - delivery.next_attempt_at).total_seconds()) < 1.5

    delays = []
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        while delivery.status == DeliveryStatus.PENDING:
            delays.append((delivery.next_attempt_at - delivery.updated_at).total_seconds())
            # time passes: the retry is due; run the scheduled job's function as the worker would
            Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
            jobs.deliver_attempt(delivery.pk)
            delivery.refresh_from_db()

    assert len(receiver.requests) == webhook_delivery.MAX_ATTEMPTS == 15
    assert [int(request.headers["X-LeadPulse-Attempt"]) for request in receiver.requests] == list(
        range(1, 16)
    )
    assert len({request.event_id for request in receiver.requests}) == 1
    for delay, base in zip(delays, webhook_delivery.RETRY_DELAYS, strict=True):
        assert base - 1 <= delay <= base * (1 + webhook_delivery.RETRY_JITTER) + 1
    assert 22 * 3600 <= sum(webhook_delivery.RETRY_DELAYS) <= 26 * 3600  # about a day

    assert (delivery.status, delivery.failures, delivery.attempts) == ("failed", 15, 15)
    with schema_context(org.schema_name):
        endpoint.refresh_from_db()
        assert not endpoint.is_active and endpoint.disabled_at is not None
        assert "15 attempts" in endpoint.disabled_reason
        outcomes = list(delivery.log.order_by("number").values_list("outcome", flat=True))
        assert outcomes == [AttemptOutcome.RETRYING] * 14 + [AttemptOutcome.FAILED]
        admins = set(User.objects.filter(role=Role.ADMIN, is_active=True).values_list("email", flat=True))
        notified = Notification.objects.filter(kind="webhook.disabled").values_list(
            "recipient__email", flat=True
        )
        assert sorted(notified) == sorted(admins)
        assert len(admins) >= 2 and admin.email in admins and rep.email not in admins
    disabled = [message for message in mail.outbox if "Webhook endpoint disabled" in message.subject]
    assert sorted(message.to[0] for message in disabled) == sorted(admins)


def test_a_client_error_fails_at_once_and_410_disables_the_endpoint(
    org, admin, receiver, make_endpoint, deliver
):
    endpoint = make_endpoint(receiver.url, ["lead.created"])
    receiver.status = 400
    deliver(org, lead_services.lead_create, actor=admin, name="Refused", allow_duplicate=True)
    delivery = only_delivery(org)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 1, "HTTP 400.")
    with schema_context(org.schema_name):
        assert Endpoint.objects.get(pk=endpoint.pk).is_active  # one refused event is not a dead endpoint

    receiver.status = 410
    deliver(org, lead_services.lead_create, actor=admin, name="Gone", allow_duplicate=True)
    with schema_context(org.schema_name):
        endpoint.refresh_from_db()
        assert not endpoint.is_active
        assert endpoint.disabled_reason == "The endpoint answered 410 Gone."
        assert Notification.objects.filter(kind="webhook.disabled", recipient=admin).exists()


def test_redirects_are_not_followed(org, admin, receiver, make_endpoint, deliver):
    make_endpoint(receiver.url, ["lead.created"])
    receiver.status, receiver.reply_headers = 302, {"Location": "http://169.254.169.254/latest/meta-data/"}
    deliver(org, lead_services.lead_create, actor=admin, name="Redirected", allow_duplicate=True)
    assert len(receiver.requests) == 1
    delivery = only_delivery(org)
    assert (delivery.status, delivery.last_status_code) == ("failed", 302)
    assert "redirects are not followed" in delivery.last_error


def test_a_timeout_is_retried(org, admin, receiver, make_endpoint, deliver, monkeypatch):
    monkeypatch.setattr(transport, "TIMEOUT_SECONDS", 0.2)
    receiver.delay = 2.0
    make_endpoint(receiver.url, ["lead.created"])
    deliver(org, lead_services.lead_create, actor=admin, name="Slow", allow_duplicate=True)
    delivery = only_delivery(org)
    assert (delivery.status, delivery.failures) == ("pending", 1)
    assert delivery.last_error.startswith("Timed out")
    with schema_context(org.schema_name):
        [attempt] = delivery.log.all()
        assert attempt.outcome == "retrying" and attempt.status_code is None
        assert 150 <= attempt.latency_ms < 1500  # gave up at the timeout, not when the receiver answered


def test_a_success_after_failures_is_recorded_once_and_the_log_keeps_every_attempt(
    org, admin, receiver, make_endpoint, deliver
):
    receiver.fail_next = 2
    receiver.reply = b"x" * 5000
    make_endpoint(receiver.url, ["lead.created"])
    deliver(org, lead_services.lead_create, actor=admin, name="Third time", allow_duplicate=True)
    delivery = only_delivery(org)
    with schema_context(org.schema_name):
        for _ in range(3):
            Delivery.objects.filter(pk=delivery.pk, status="pending").update(next_attempt_at=timezone.now())
            jobs.deliver_attempt(delivery.pk)
        delivery.refresh_from_db()
        log = list(delivery.log.order_by("number"))
    assert [request.status for request in receiver.requests] == [500, 500, 200]
    assert (delivery.status, delivery.attempts, delivery.failures) == ("succeeded", 3, 0)
    assert [(row.outcome, row.status_code) for row in log] == [
        ("retrying", 500),
        ("retrying", 500),
        ("succeeded", 200),
    ]
    assert log[0].response_excerpt == "receiver failure"
    assert len(log[2].response_excerpt.encode()) == 1024  # at most 1 kB of the answer


def test_a_worker_killed_mid_delivery_ends_in_one_successful_delivery_per_event_id(
    org, admin, receiver, make_endpoint, make_lead, run_jobs, django_capture_on_commit_callbacks, monkeypatch
):
    make_endpoint(receiver.url, ["lead.created"])
    real_post = transport.post

    def post_then_die(*args, **kwargs):
        real_post(*args, **kwargs)  # the receiver has it...
        raise RuntimeError("worker killed")  # ...and the worker dies before saving the answer

    monkeypatch.setattr(transport, "post", post_then_die)
    failed = []
    for name in ("First", "Second"):  # each change's delivery job dies mid-delivery
        with django_capture_on_commit_callbacks(execute=True):
            make_lead(name=name)
        failed += run_jobs()
    assert [job.is_failed for job in failed] == [True, True]
    with schema_context(org.schema_name):
        assert set(Delivery.objects.values_list("status", flat=True)) == {"sending"}
        # a second run while the lease holds sends nothing: the claim is someone else's
        for delivery_id in Delivery.objects.values_list("pk", flat=True):
            assert webhook_delivery.delivery_attempt(delivery_id=delivery_id) is None
    assert len(receiver.requests) == 2

    monkeypatch.setattr(transport, "post", real_post)
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        assert jobs.webhooks_sweep()["retried"] == 0  # leases still valid
        Delivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        assert jobs.webhooks_sweep()["retried"] == 2
    run_jobs()

    assert len(receiver.requests) == 4  # each event twice: at least once...
    assert sorted(receiver.processed.values()) == [2, 2]
    # ...and exactly one successful delivery per event id once the receiver dedupes on the id
    assert len({request.event_id for request in receiver.successes()}) == 2
    with schema_context(org.schema_name):
        for delivery in Delivery.objects.all():
            assert (delivery.status, delivery.attempts) == ("succeeded", 2)
            outcomes = list(delivery.log.order_by("number").values_list("outcome", flat=True))
            assert outcomes == ["abandoned", "succeeded"]
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        assert jobs.webhooks_sweep() == {"dispatched": 0, "retried": 0, "purged": 0}
    assert django_rq.get_queue().count == 0
    assert len(receiver.requests) == 4


def test_the_same_job_twice_sends_once(org, admin, receiver, make_endpoint, deliver):
    make_endpoint(receiver.url, ["lead.created"])
    deliver(org, lead_services.lead_create, actor=admin, name="Once", allow_duplicate=True)
    delivery = only_delivery(org)
    with schema_context(org.schema_name):
        assert jobs.deliver_event(str(delivery.event_id)) == {}
        assert jobs.deliver_attempt(delivery.pk) is None
    assert len(receiver.requests) == 1


def test_the_sweep_dispatches_events_whose_job_was_lost(org, admin, receiver, make_endpoint, deliver):
    make_endpoint(receiver.url, ["lead.created"])
    with schema_context(org.schema_name):  # no on-commit callbacks: as if Redis lost the job
        lead_services.lead_create(actor=admin, name="Lost job", allow_duplicate=True)
    assert django_rq.get_queue().count == 0
    assert receiver.requests == []
    later = timezone.now() + webhook_delivery.SWEEP_GRACE + timedelta(seconds=1)
    assert deliver(org, webhook_delivery.webhooks_sweep, now=later)["dispatched"] == 1
    assert len(receiver.requests) == 1
    assert deliver(org, webhook_delivery.webhooks_sweep, now=later)["dispatched"] == 0


def test_the_sweep_drops_events_past_retention(org, admin, receiver, make_endpoint, deliver):
    make_endpoint(receiver.url, ["lead.created"])
    deliver(org, lead_services.lead_create, actor=admin, name="Old news", allow_duplicate=True)
    later = timezone.now() + webhook_delivery.RETENTION + timedelta(minutes=1)
    assert deliver(org, webhook_delivery.webhooks_sweep, now=later)["purged"] == 1
    with schema_context(org.schema_name):
        assert not OutboxEvent.objects.exists() and not Delivery.objects.exists()


def test_an_address_is_checked_again_at_delivery_time(
    org, admin, receiver, make_endpoint, deliver, settings, monkeypatch
):
    # saved while the name resolved to a public address, then re-pointed at the loopback (DNS rebinding)
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    answers = iter([["93.184.215.14"]])
    monkeypatch.setattr(transport, "resolve", lambda host, port: next(answers, ["127.0.0.1"]))
    make_endpoint(f"http://hooks.example.com:{receiver.port}/hook", ["lead.created"])
    deliver(org, lead_services.lead_create, actor=admin, name="Rebound", allow_duplicate=True)
    assert receiver.requests == []
    delivery = only_delivery(org)
    assert delivery.status == "pending"
    assert "127.0.0.1" in delivery.last_error and "not allowed" in delivery.last_error


def test_redeliver_sends_the_same_event_again(org, admin, receiver, make_endpoint, deliver, run_jobs):
    endpoint = make_endpoint(receiver.url, ["lead.created"])
    deliver(org, lead_services.lead_create, actor=admin, name="Again", allow_duplicate=True)
    delivery = only_delivery(org)
    client = client_for(org, admin)
    url = f"/api/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver/"
    response = client.post(url)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"

    with schema_context(org.schema_name):
        jobs.deliver_attempt(delivery.pk)  # what the enqueued job does
    first, second = receiver.requests
    assert first.event_id == second.event_id and first.body == second.body
    assert second.headers["X-LeadPulse-Attempt"] == "2"
    log = client.get(f"/api/webhooks/{endpoint.pk}/deliveries/").json()["results"]
    assert [(row["status"], row["attempts"]) for row in log] == [("succeeded", 2)]
    assert [attempt["number"] for attempt in log[0]["log"]] == [1, 2]
    assert log[0]["event_id"] == first.event_id and log[0]["payload"] == json.loads(first.body)

    with schema_context(org.schema_name):
        Delivery.objects.filter(pk=delivery.pk).update(
            status="sending", lease_expires_at=timezone.now() + timedelta(minutes=1)
        )
    assert client.post(url).json()["code"] == "delivery_in_progress"
    client.patch(f"/api/webhooks/{endpoint.pk}/", {"is_active": False}, format="json")
    response = client.post(url)
    assert (response.status_code, response.json()["code"]) == (409, "webhook_disabled")
    assert client.post(f"/api/webhooks/{endpoint.pk}/deliveries/999999/redeliver/").status_code == 404


def test_a_disabled_endpoint_gets_no_new_events_and_its_pending_deliveries_fail(
    org, admin, receiver, make_endpoint, deliver
):
    endpoint = make_endpoint(receiver.url, ["lead.created"])
    receiver.fail_next = 1
    deliver(org, lead_services.lead_create, actor=admin, name="Pending", allow_duplicate=True)
    with schema_context(org.schema_name):
        services.endpoint_update(endpoint_id=endpoint.pk, actor=admin, changes={"is_active": False})
        assert only_delivery(org).status == "failed"
    deliver(org, lead_services.lead_create, actor=admin, name="While disabled", allow_duplicate=True)
    with schema_context(org.schema_name):
        assert OutboxEvent.objects.count() == 1
    assert len(receiver.requests) == 1


def test_only_catalogued_events_are_sent_and_the_public_schema_publishes_nothing(
    org, make_endpoint, receiver
):
    make_endpoint(receiver.url, ["*"])
    with schema_context(org.schema_name):
        events.publish_on_commit("segment.created", record_id=1)  # internal: not a webhook event type
        events.publish_on_commit("webhook.created", record_id=1)
        assert not OutboxEvent.objects.exists()
        events.publish_on_commit("task.reminded", record_id=7, assignee_id=3, due_at="2026-01-01T09:00:00Z")
        [event] = OutboxEvent.objects.all()
        assert (event.topic, event.payload["record"]) == ("task.due", {"type": "task", "id": 7})
    with schema_context("public"):
        events.publish_on_commit("lead.created", record_id=1)  # no webhook tables there: ignored


def test_an_endpoint_deleted_while_its_delivery_is_in_flight(
    org, admin, receiver, make_endpoint, deliver, monkeypatch
):
    endpoint = make_endpoint(receiver.url, ["lead.created"])
    real_post = transport.post

    def post_then_delete(*args, **kwargs):
        response = real_post(*args, **kwargs)
        Endpoint.objects.filter(pk=endpoint.pk).delete()
        return response

    monkeypatch.setattr(transport, "post", post_then_delete)
    deliver(org, lead_services.lead_create, actor=admin, name="Orphan", allow_duplicate=True)
    assert len(receiver.requests) == 1
    with schema_context(org.schema_name):
        assert not Delivery.objects.exists()
    assert django_rq.get_queue().failed_job_registry.count == 0


def test_an_event_that_keeps_failing_does_not_disable_an_endpoint_that_takes_others(
    org, admin, receiver, make_endpoint, deliver
):
    endpoint = make_endpoint(receiver.url, ["lead.created"])
    receiver.fail_next = 1000
    deliver(org, lead_services.lead_create, actor=admin, name="Poison", allow_duplicate=True)
    delivery = only_delivery(org)
    with schema_context(org.schema_name):
        # another event reached the endpoint after this one first failed
        Endpoint.objects.filter(pk=endpoint.pk).update(last_success_at=timezone.now())
        while delivery.status == DeliveryStatus.PENDING:
            Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
            jobs.deliver_attempt(delivery.pk)
            delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("failed", webhook_delivery.MAX_ATTEMPTS)
        assert Endpoint.objects.get(pk=endpoint.pk).is_active
        assert not Notification.objects.filter(kind="webhook.disabled").exists()
