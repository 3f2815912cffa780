"""Health in the collected usage: failing rq jobs counted per organization from rq's failed job registries,
job time counted per organization and day, the template's migrations a schema lacks, last activity, and the
admins' emails the list searches."""

from __future__ import annotations

import django_rq
from django.utils import timezone
from django_tenants.utils import schema_context
from rq.registry import FailedJobRegistry

from shared_apps.organizations import usage
from shared_apps.organizations.jobs import enqueue_in_organization, tenant_job
from shared_apps.organizations.models import Organization, OrganizationUsage
from shared_apps.users.models import Role


@tenant_job
def broken_job() -> None:
    raise RuntimeError("this job always fails")


@tenant_job
def fine_job() -> int:
    from tenant_apps.leads.models import Lead

    return Lead.objects.count()


def collect(organization: Organization) -> OrganizationUsage:
    with schema_context(organization.schema_name):
        usage.usage_collect()
    return OrganizationUsage.objects.get(organization=organization)


def test_failed_jobs_are_counted_per_organization(org, other_org, django_capture_on_commit_callbacks):
    queue = django_rq.get_queue("default")
    queue.empty()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            enqueue_in_organization(org, broken_job)
        enqueue_in_organization(other_org, broken_job)
        enqueue_in_organization(org, fine_job)
    django_rq.get_worker("default", worker_class="rq.SimpleWorker").work(burst=True)
    assert FailedJobRegistry(queue=queue).count == 3

    assert usage.failed_jobs_by_organization(fresh=True) == {org.pk: 2, other_org.pk: 1}
    assert collect(org).failed_jobs == 2
    assert collect(other_org).failed_jobs == 1


def test_job_time_is_counted_per_organization_and_summed_over_30_days(
    org, django_capture_on_commit_callbacks
):
    usage.count_job_time(org.pk, 1.25)
    usage.count_job_time(org.pk, 0.5)
    assert usage.requests_counted(org.pk)["job_ms"] == 1750
    with django_capture_on_commit_callbacks(execute=True):
        django_rq.get_worker("default", worker_class="rq.SimpleWorker").work(burst=True)
    before = usage._redis().hget(usage._day_key(org.pk, timezone.now().strftime("%Y%m%d")), "job_ms")
    assert int(before) >= 1750  # the job's own time was added (a few ms at most)
    assert collect(org).job_seconds_30d >= 1.75


def test_migrations_behind_the_template_and_last_activity_are_collected(org, api):
    row = collect(org)
    assert row.migrations_pending == 0
    assert api(Role.ADMIN).post("/api/leads/", {"name": "Active"}, format="json").status_code == 201
    row = collect(org)
    assert row.last_active_at is not None and timezone.now() - row.last_active_at < timezone.timedelta(
        minutes=5
    )
    with schema_context(org.schema_name):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM django_migrations WHERE app = 'search' AND name = '0003_search_words_deferrable'"
            )
    assert collect(org).migrations_pending == 1


def test_the_admins_emails_are_refreshed_for_the_lists_search(org, member):
    member(role=Role.ADMIN, email="second.admin@acme.example")
    member(role=Role.REP, email="rep.only@acme.example")
    collect(org)
    emails = Organization.objects.get(pk=org.pk).admin_emails.split()
    assert "second.admin@acme.example" in emails and "rep.only@acme.example" not in emails


def test_provisioning_records_the_first_admins_email(platform_api):
    body = {
        "name": "Initrode",
        "slug": "initrode",
        "admin_email": "Boss@Initrode.example",
        "admin_password": "a-long-passphrase-2026",
    }
    assert platform_api.post("/api/platform/organizations/", body, format="json").status_code == 201
    assert Organization.objects.get(slug="initrode").admin_emails == "boss@initrode.example"
    assert [
        row["slug"]
        for row in platform_api.get("/api/platform/organizations/", {"q": "boss@initrode"}).json()["results"]
    ] == ["initrode"]
