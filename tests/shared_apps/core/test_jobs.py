import django_rq
from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.core.jobs import enqueue_in_organization, fan_out, tenant_job
from shared_apps.organizations import services
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
