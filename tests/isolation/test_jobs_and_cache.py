"""Jobs and cache entries stay in their organization.

The basics are proved next to the code: tests/shared_apps/organizations/test_jobs.py (a job runs in the
schema it was enqueued from; a tenant job without one fails; an explicit organization wins) and test_cache.py
(cache keys carry the schema). Here: one worker running jobs of both organizations in turn, and the
cache-backed request features (idempotency replays, throttle counters) for two members who have the same id in
both schemas, the case where a key without the schema would collide."""

from __future__ import annotations

import django_rq
from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.leads.models import Lead
from tests.conftest import PASSWORD, client_for
from tests.shared_apps.organizations.test_jobs import where_am_i


def test_one_worker_runs_each_job_in_its_own_organization(
    org, other_org, run_jobs, django_capture_on_commit_callbacks
):
    """The worker's connection is left in the previous job's schema: the next job must not inherit it."""
    order = [org, other_org, org, other_org]
    for organization in order:
        with schema_context(organization.schema_name), django_capture_on_commit_callbacks(execute=True):
            django_rq.get_queue("default").enqueue(where_am_i)
    connection.set_schema_to_public()

    jobs = run_jobs()
    assert all(job.is_finished for job in jobs), [job.latest_result().exc_string for job in jobs]
    assert [job.return_value() for job in jobs] == [
        (organization.schema_name, [f"admin@{organization.slug}.test"]) for organization in order
    ]


def _same_member_id_in_both(org: Organization, other_org: Organization) -> tuple[User, User]:
    """A rep in each organization, with the same primary key (each schema numbers its own users)."""
    next_ids = []
    for organization in (org, other_org):
        with schema_context(organization.schema_name), connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('users_user', 'id'))")
            next_ids.append(cursor.fetchone()[0])
    users = []
    for organization in (org, other_org):
        with schema_context(organization.schema_name):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence('users_user', 'id'), %s)", [max(next_ids)]
                )
            users.append(User.objects.create_user(f"twin@{organization.slug}.test", PASSWORD, role=Role.REP))
    acme_rep, globex_rep = users
    assert acme_rep.pk == globex_rep.pk
    return acme_rep, globex_rep


def test_an_idempotency_key_never_replays_another_organizations_response(org, other_org):
    acme_rep, globex_rep = _same_member_id_in_both(org, other_org)
    acme, globex = client_for(org, acme_rep), client_for(other_org, globex_rep)

    first = acme.post("/api/leads/", {"name": "Acme's secret lead"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    # same caller id, same path, same key, another body: a key without the schema would answer 422, or with
    # the same body replay acme's lead to globex
    other = globex.post("/api/leads/", {"name": "Globex lead"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    same = globex.post(
        "/api/leads/", {"name": "Acme's secret lead"}, format="json", HTTP_IDEMPOTENCY_KEY="k2"
    )
    acme_again = acme.post(
        "/api/leads/", {"name": "Acme's secret lead"}, format="json", HTTP_IDEMPOTENCY_KEY="k2"
    )
    assert first.status_code == other.status_code == same.status_code == acme_again.status_code == 201
    assert not other.has_header("Idempotent-Replayed") and not acme_again.has_header("Idempotent-Replayed")
    with schema_context(other_org.schema_name):
        assert sorted(Lead.objects.values_list("name", flat=True)) == ["Acme's secret lead", "Globex lead"]
        assert other.json()["id"] in Lead.objects.values_list("pk", flat=True)


def test_throttle_counters_are_per_organization_even_for_the_same_member_id(org, other_org, settings):
    settings.THROTTLE_RATES_BY_PLAN = {**settings.THROTTLE_RATES_BY_PLAN, "free": "2/min"}
    acme_rep, globex_rep = _same_member_id_in_both(org, other_org)
    acme, globex = client_for(org, acme_rep), client_for(other_org, globex_rep)
    assert [acme.get("/api/leads/").status_code for _ in range(3)] == [200, 200, 429]
    assert globex.get("/api/leads/").status_code == 200
