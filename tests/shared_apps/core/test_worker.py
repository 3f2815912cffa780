"""The worker every deployment runs (shared_apps.core.worker.Worker): no fork per job, and otherwise the
guarantees rq's forking worker gave: a failing job leaves the worker running, each job runs in its own
organization, timeouts hold, and a job whose worker died is run again."""

import os
import time

import django_rq
from django.db import connection
from rq.job import JobStatus
from rq.registry import StartedJobRegistry
from rq.timeouts import JobTimeoutException

from shared_apps.core.worker import ABANDONED_META_KEY, ABANDONED_RETRIES, Worker
from shared_apps.organizations.jobs import enqueue_in_organization, tenant_job


def process_id() -> int:
    return os.getpid()


def explode() -> None:
    raise ValueError("this job fails")


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


@tenant_job
def schema_and_tenant() -> tuple[str, str]:
    return connection.schema_name, connection.tenant.slug


def work(queue: str = "default") -> tuple[Worker, list]:
    """Run every queued job with the worker as deployed (settings.RQ["WORKER_CLASS"]), burst mode."""
    rq_queue = django_rq.get_queue(queue)
    job_ids = list(rq_queue.job_ids)
    worker = django_rq.get_worker(queue)
    worker.work(burst=True)
    return worker, [rq_queue.fetch_job(job_id) for job_id in job_ids]


def test_the_deployed_worker_runs_jobs_in_its_own_process_without_forking(
    public, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            django_rq.get_queue().enqueue(process_id)
    worker, jobs = work()
    assert type(worker) is Worker
    assert [job.return_value() for job in jobs] == [os.getpid()] * 3  # no work horse: this very process


def test_a_job_that_raises_fails_alone_and_the_worker_goes_on(public, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue().enqueue(explode)
        django_rq.get_queue().enqueue(process_id)
    worker, (failed, finished) = work()
    assert failed.is_failed and "this job fails" in failed.latest_result().exc_string
    assert finished.is_finished and finished.return_value() == os.getpid()
    assert failed.worker_name == finished.worker_name == worker.name


def test_consecutive_jobs_of_different_organizations_each_run_in_their_own(
    org, other_org, public, django_capture_on_commit_callbacks
):
    order = [org, other_org, other_org, org, other_org]
    with django_capture_on_commit_callbacks(execute=True):
        for organization in order:
            enqueue_in_organization(organization, schema_and_tenant)
        django_rq.get_queue().enqueue(schema_and_tenant)  # no organization: refused, not run in the last one
    _, jobs = work()
    assert [job.return_value() for job in jobs[:-1]] == [(o.schema_name, o.slug) for o in order]
    assert jobs[-1].is_failed and "MissingOrganizationContext" in jobs[-1].latest_result().exc_string
    assert connection.schema_name == "public"


def test_a_job_timeout_still_interrupts_the_job(public, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue().enqueue(sleep_for, 30, job_timeout=1)
        django_rq.get_queue().enqueue(process_id)
    start = time.monotonic()
    _, (timed_out, after) = work()
    assert time.monotonic() - start < 10
    assert timed_out.func_name.endswith("sleep_for") and timed_out.is_failed
    assert JobTimeoutException.__name__ in timed_out.latest_result().exc_string
    assert after.return_value() == os.getpid()


def _abandon(job_id: str) -> None:
    """What a worker killed mid-job leaves: the job STARTED in the started registry, its execution expired
    (rq's cleanup sees expired entries only; a timestamp in the future stands for the time passed)."""
    queue = django_rq.get_queue()
    job = queue.fetch_job(job_id)
    job.set_status(JobStatus.STARTED)
    queue.connection.zadd(StartedJobRegistry(queue=queue).key, {f"{job_id}:dead-execution": 1})


def test_a_job_whose_worker_died_is_enqueued_again_and_runs(public, django_capture_on_commit_callbacks):
    queue = django_rq.get_queue()
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue(process_id)  # no Retry: rq alone would move it to the failed registry
    [job_id] = queue.job_ids
    queue.remove(job_id)  # a dead worker had taken it off the queue...
    _abandon(job_id)  # ...and left it started

    _, [] = work()  # the worker's maintenance pass finds it (and runs it once back on the queue)
    job = queue.fetch_job(job_id)
    assert job.is_finished and job.return_value() == os.getpid()
    assert job.meta[ABANDONED_META_KEY] == 1
    assert queue.failed_job_registry.count == 0


def test_a_job_that_keeps_killing_its_worker_ends_in_the_failed_registry(
    public, django_capture_on_commit_callbacks
):
    queue = django_rq.get_queue()
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue(process_id)
    [job_id] = queue.job_ids
    queue.remove(job_id)
    for attempt in range(ABANDONED_RETRIES + 1):
        _abandon(job_id)
        django_rq.get_worker().clean_registries()
        queue.remove(job_id)  # taken by the next worker, which dies too
        assert queue.fetch_job(job_id).meta.get(ABANDONED_META_KEY, 0) == min(attempt + 1, ABANDONED_RETRIES)
    assert job_id in queue.failed_job_registry.get_job_ids()
