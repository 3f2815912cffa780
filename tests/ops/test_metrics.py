"""Prometheus metrics on the root domain, for operators only."""

from __future__ import annotations

from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import client_for


def samples(response) -> dict[tuple[str, tuple], float]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics_refuses_anonymous_and_members(org, member, public):
    assert client_for(None).get("/metrics").status_code == 401
    assert client_for(None).get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    # a member's token is unknown on the root domain, and the route does not exist on organization hosts
    assert client_for(org, member(role="admin")).get("/metrics").status_code == 404


@override_settings(METRICS_TOKEN="scrape-secret")
def test_metrics_token_is_accepted(public):
    response = client_for(None).get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert samples(response)


def test_requests_jobs_and_organizations_are_reported(org, member, platform_api):
    client_for(org, member(role="admin")).get("/api/me/")
    client_for(org).get("/api/me/")  # 401
    found = samples(platform_api.get("/metrics"))
    me_ok = ("leadpulse_http_requests_total", (("method", "GET"), ("route", "api/me/"), ("status", "200")))
    me_401 = ("leadpulse_http_requests_total", (("method", "GET"), ("route", "api/me/"), ("status", "401")))
    assert found[me_ok] >= 1 and found[me_401] >= 1
    assert found[("leadpulse_http_request_duration_seconds_count", (("route", "api/me/"),))] >= 2
    assert found[("leadpulse_organizations", (("status", "active"),))] >= 2
    assert found[("leadpulse_organizations", (("status", "template"),))] == 1
    assert ("leadpulse_rq_jobs", (("queue", "default"), ("state", "failed"))) in found
    assert not [key for key in found if dict(key[1]).get("route") in ("healthz", "readyz", "metrics")]


def test_queued_jobs_are_counted(public, platform_api, django_capture_on_commit_callbacks):
    import django_rq

    before = samples(platform_api.get("/metrics"))[
        ("leadpulse_rq_jobs", (("queue", "low"), ("state", "queued")))
    ]
    with django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue("low").enqueue(print, "x")
    after = samples(platform_api.get("/metrics"))[
        ("leadpulse_rq_jobs", (("queue", "low"), ("state", "queued")))
    ]
    assert after == before + 1
    django_rq.get_queue("low").empty()


def test_expired_operator_token_is_refused(operator):
    from shared_apps.users.models import AuthToken

    client = client_for(None, operator)
    AuthToken.objects.filter(user=operator).update(expires_at="2000-01-01T00:00:00Z")
    assert client.get("/metrics").status_code == 401


def _boom() -> None:
    raise RuntimeError("boom")


def test_finished_and_failed_jobs_are_counted_by_queue(
    public, platform_api, run_jobs, django_capture_on_commit_callbacks
):
    import django_rq

    def state(found: dict, name: str) -> float:
        return found[("leadpulse_rq_jobs", (("queue", "low"), ("state", name)))]

    before = samples(platform_api.get("/metrics"))
    queue = django_rq.get_queue("low")
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue(print, "ok")
        queue.enqueue(_boom)
    assert [job.get_status() for job in run_jobs("low")] == ["finished", "failed"]
    after = samples(platform_api.get("/metrics"))
    assert (
        state(after, "finished") - state(before, "finished"),
        state(after, "failed") - state(before, "failed"),
    ) == (
        1,
        1,
    )
    for job_id in queue.failed_job_registry.get_job_ids() + queue.finished_job_registry.get_job_ids():
        queue.fetch_job(job_id).delete()
