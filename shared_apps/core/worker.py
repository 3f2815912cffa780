"""The rq worker every deployment runs: jobs run in the worker process itself, without a fork per job.

rq's default `Worker` forks a work horse for every job: ≈60 ms each here (the fork, then a new database and
Redis connection in the child), which capped webhooks at 19 deliveries/s. `Worker` below is rq's
`SimpleWorker` (the job runs in the worker's own process) made safe for a long-lived process:

- Connections are kept between jobs and recycled at each job's boundary by the job class
  (shared_apps.organizations.jobs.OrganizationJob): `close_old_connections()` before and after every job
  (DB_CONN_MAX_AGE, broken connections), and a connection that has served more than DB_CONN_MAX_SCHEMAS
  schemas is closed (PostgreSQL's catalog caches grow per schema a session touches).
- The organization context is entered and left by the job class around every job, so consecutive jobs of
  different organizations each run in their own.
- A job's timeout still holds: rq's SIGALRM death penalty interrupts the job in the main thread.
- A job that raises fails (and is retried if it was enqueued with a Retry) without stopping the worker.
- At least once: a worker killed mid-job (SIGKILL, OOM, a lost machine) leaves the job in rq's started
  registry; once its execution expires (the job's timeout + 60 s), the next maintenance pass of any worker
  (every MAINTENANCE_INTERVAL s) puts it back on its queue up to ABANDONED_RETRIES times, even when it was
  enqueued without a Retry (rq alone would move it to the failed registry). Jobs are idempotent
  (docs/STYLE: "safe to run twice").

Run it with `manage.py rqworker default low --with-scheduler` (settings.RQ["WORKER_CLASS"] names this
class) or `--worker-class shared_apps.core.worker.Worker`; deploy/README.md, "Workers", says how many.
"""

from __future__ import annotations

import logging
from typing import Any

from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.worker import SimpleWorker

logger = logging.getLogger(__name__)

# How many times a job whose worker died is put back on its queue (its own Retry, if any, counts first).
ABANDONED_RETRIES = 3
ABANDONED_META_KEY = "abandoned"
# rq's default is 10 minutes; abandoned jobs are found at this pace (one worker per queue does it, locked).
MAINTENANCE_INTERVAL = 60


def requeue_abandoned(job: Job, exc_type: type[BaseException] | None, *_: Any) -> bool:
    """An exception handler: give a job abandoned by a dead worker another run (rq then re-enqueues it at
    once) unless it has had ABANDONED_RETRIES already. Other failures pass through untouched."""
    if exc_type is None or not issubclass(exc_type, AbandonedJobError):
        return True
    if job.retries_left:
        return True  # its own Retry re-enqueues it
    abandoned = int(job.meta.get(ABANDONED_META_KEY, 0))
    if abandoned >= ABANDONED_RETRIES:
        logger.warning("job %s abandoned %s times: moved to the failed registry", job.id, abandoned + 1)
        return True
    job.meta[ABANDONED_META_KEY] = abandoned + 1
    job.save_meta()
    job.retries_left, job.retry_intervals = 1, None  # at once, on the queue it came from
    logger.warning("job %s was abandoned by a dead worker: enqueued again", job.id)
    return True


class Worker(SimpleWorker):
    """rq's SimpleWorker (no fork per job) that re-enqueues jobs abandoned by dead workers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["exception_handlers"] = [requeue_abandoned, *(kwargs.get("exception_handlers") or [])]
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)
