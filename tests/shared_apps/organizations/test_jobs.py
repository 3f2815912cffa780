import re
import time
from datetime import timedelta
from importlib import import_module
from pathlib import Path

import django_rq
from django.db import connection
from django_tenants.utils import schema_context
from rq import Retry
from rq.registry import ScheduledJobRegistry

from shared_apps.organizations import services
from shared_apps.organizations.context import current_organization
from shared_apps.organizations.jobs import enqueue_in_organization, fan_out, tenant_job
from shared_apps.users.models import User


@tenant_job
def where_am_i() -> tuple[str, list[str]]:
    """Reports the schema it ran in and the admins it sees there."""
    admins = sorted(User.objects.filter(email__startswith="admin@").values_list("email", flat=True))
    return connection.schema_name, admins


def platform_job() -> str:
    return connection.schema_name


def test_job_enqueued_in_an_organization_runs_in_its_schema(
    org, run_jobs, django_capture_on_commit_callbacks
):
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue("default").enqueue(where_am_i)
    connection.set_schema_to_public()

    [job] = run_jobs()
    assert job.is_finished, job.latest_result().exc_string
    assert job.return_value() == (org.schema_name, ["admin@acme.test"])


def test_enqueue_waits_for_commit(org, django_capture_on_commit_callbacks):
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=False) as callbacks:
        django_rq.get_queue("default").enqueue(where_am_i)
    assert django_rq.get_queue("default").count == 0
    assert len(callbacks) == 1


def test_tenant_job_without_an_organization_fails_loudly(
    public, run_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue("default").enqueue(where_am_i)

    [job] = run_jobs()
    assert job.is_failed
    assert "MissingOrganizationContext" in job.latest_result().exc_string


def test_platform_job_runs_in_public(public, run_jobs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue("default").enqueue(platform_job)
    [job] = run_jobs()
    assert job.return_value() == "public"


def test_explicit_organization_wins_over_the_active_schema(
    org, other_org, run_jobs, django_capture_on_commit_callbacks
):
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        enqueue_in_organization(other_org.schema_name, where_am_i)
    [job] = run_jobs()
    assert job.return_value() == (other_org.schema_name, ["admin@globex.test"])


def test_fan_out_reaches_every_active_organization_once(
    org, other_org, public, run_jobs, django_capture_on_commit_callbacks
):
    services.organization_set_status(organization=other_org, status="suspended")
    with django_capture_on_commit_callbacks(execute=True):
        schemas = fan_out(where_am_i)
    assert org.schema_name in schemas
    assert other_org.schema_name not in schemas
    assert "org_template" not in schemas

    results = [job.return_value()[0] for job in run_jobs()]
    assert sorted(results) == sorted(schemas)


@tenant_job
def organization_seen() -> dict:
    """What a job reads from the connection's tenant: the real organization's settings."""
    tenant = connection.tenant
    return {
        "type": type(tenant).__name__,
        "name": tenant.name,
        "currency": tenant.default_currency,
        "reps_see_all_leads": tenant.reps_see_all_leads,
        "current_is_tenant": current_organization() is tenant,
    }


def test_a_job_runs_with_the_real_organization_and_its_settings(
    org, run_jobs, django_capture_on_commit_callbacks
):
    org.reps_see_all_leads, org.default_currency = True, "EUR"
    org.save(update_fields=["reps_see_all_leads", "default_currency"])
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_in_organization(org.schema_name, organization_seen)
    [job] = run_jobs()
    assert job.is_finished, job.latest_result().exc_string
    assert job.return_value() == {
        "type": "Organization",
        "name": "Acme Test",
        "currency": "EUR",
        "reps_see_all_leads": True,
        "current_is_tenant": True,
    }
    assert connection.schema_name == "public"  # the worker left the organization


def test_a_job_is_enqueued_by_dotted_path(org, run_jobs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_in_organization(org, "tests.shared_apps.organizations.test_jobs.where_am_i")
    [job] = run_jobs()
    assert job.return_value() == (org.schema_name, ["admin@acme.test"])
    assert job.meta["organization"] == "acme"


def test_a_delayed_job_is_scheduled_after_commit_and_run_by_the_scheduler(
    org, django_capture_on_commit_callbacks
):
    queue = django_rq.get_queue("default")
    registry = ScheduledJobRegistry(queue=queue)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert (
            enqueue_in_organization(
                org.schema_name,
                "tests.shared_apps.organizations.test_jobs.where_am_i",
                delay=timedelta(seconds=1),
                retry=Retry(max=2, interval=[1]),
            )
            is None
        )
    assert registry.count == 0  # a rolled-back transaction would schedule nothing
    for callback in callbacks:
        callback()
    [job_id] = registry.get_job_ids()
    assert queue.count == 0
    time.sleep(1.2)
    worker = django_rq.get_worker("default", worker_class="rq.SimpleWorker")
    worker.work(burst=True, with_scheduler=True)
    job = queue.fetch_job(job_id)
    assert job.is_finished, job.get_status()
    assert job.retries_left == 2
    assert job.return_value() == (org.schema_name, ["admin@acme.test"])


def test_a_job_for_a_schema_no_organization_owns_fails_loudly(
    public, run_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_in_organization("org_gone", where_am_i)
    [job] = run_jobs()
    assert job.is_failed
    assert "MissingOrganizationContext" in job.latest_result().exc_string


def test_every_job_path_enqueued_by_the_services_resolves():
    """Services name their jobs by dotted path (no import of their own jobs module): a typo would only
    show when the worker runs the job."""
    root = Path(__file__).resolve().parents[3] / "tenant_apps"
    paths = set()
    for source in root.rglob("*.py"):
        paths.update(re.findall(r'"(tenant_apps\.\w+\.jobs\.\w+)"', source.read_text()))
    imports = (root / "imports" / "services.py").read_text()  # _enqueue("<job>", ...) in its jobs module
    paths.update(f"tenant_apps.imports.jobs.{name}" for name in re.findall(r'_enqueue\("(\w+)"', imports))
    assert len(paths) >= 10, paths
    for path in sorted(paths):
        module, _, name = path.rpartition(".")
        assert callable(getattr(import_module(module), name, None)), path


def test_a_job_carries_its_organizations_id(org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_in_organization(org, where_am_i)  # by its row
        enqueue_in_organization(org.schema_name, where_am_i)  # by its schema name
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue("default").enqueue(where_am_i)  # inside it
    jobs = django_rq.get_queue("default").jobs
    assert [job.meta.get("organization_id") for job in jobs] == [org.pk] * 3


def test_a_job_left_by_a_purged_organization_does_not_run_in_its_successor(
    org, run_jobs, django_capture_on_commit_callbacks
):
    """A new organization under a purged one's slug gets the same schema name, never the same id: a job
    still queued for the old one (same schema in its meta, the old id) must not run in the newcomer."""
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_in_organization(org, where_am_i)
    [job] = django_rq.get_queue("default").jobs
    job.meta["organization_id"] = org.pk + 100_000  # the predecessor's id
    job.save_meta()
    [ran] = run_jobs()
    assert ran.is_failed
    assert "MissingOrganizationContext" in ran.latest_result().exc_string
