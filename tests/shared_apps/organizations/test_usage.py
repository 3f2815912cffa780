"""Usage collection: requests counted per organization and day as they are answered, the rest measured by the
scheduled job into the public schema; the platform API and the console read that row only."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.organizations import usage
from shared_apps.organizations.models import OrganizationUsage
from shared_apps.users.models import Role
from tenant_apps.leads.models import Lead
from tests.conftest import host_of


def collect(organization):
    with schema_context(organization.schema_name):
        return usage.usage_collect()


def test_the_job_measures_records_members_requests_storage_and_migrations(api, org, other_org):
    client = api(Role.ADMIN)
    for name in ("One", "Two"):
        assert client.post("/api/leads/", {"name": name}, format="json").status_code == 201
    assert client.post("/api/leads/", {"name": ""}, format="json").status_code == 400
    assert client.get("/api/leads/").status_code == 200
    api(Role.ADMIN, organization=other_org).get("/api/leads/")  # another organization's request
    with schema_context(org.schema_name):
        leads = Lead.objects.filter(deleted_at__isnull=True).count()

    collect(org)

    row = OrganizationUsage.objects.get(organization=org)
    assert row.leads == leads and row.leads >= 2
    assert row.members >= 1
    assert (row.api_requests_30d, row.api_4xx_30d, row.api_5xx_30d) == (4, 1, 0)
    assert row.schema_bytes > 100_000
    assert row.migrations_applied > 10 and "." in row.last_migration
    assert row.last_activity_at is not None


def test_collecting_again_replaces_the_row(api, org):
    collect(org)
    first = OrganizationUsage.objects.get(organization=org)
    assert api(Role.ADMIN).post("/api/leads/", {"name": "Later"}, format="json").status_code == 201
    collect(org)
    again = OrganizationUsage.objects.get(organization=org)
    assert (again.pk, again.leads) == (first.pk, first.leads + 1)
    assert again.collected_at > first.collected_at


def test_requests_of_other_days_count_within_30_days_only(org):
    from datetime import timedelta

    from django.utils import timezone

    today = timezone.now().date()
    redis = usage._redis()
    for back, hits in ((1, 5), (29, 7), (30, 100)):
        day = (today - timedelta(days=back)).strftime("%Y%m%d")
        redis.hset(usage._day_key(org.pk, day), mapping={"total": hits, "5xx": 1})
    assert usage.requests_counted(org.pk) == {"total": 12, "4xx": 0, "5xx": 2, "job_ms": 0}


def test_the_platform_api_serves_the_collected_row_from_the_public_schema(platform_api, org, api):
    response = platform_api.get("/api/platform/organizations/acme/usage/")
    assert (response.status_code, response.json()["code"]) == (404, "usage_not_collected")
    collect(org)
    with CaptureQueriesContext(connection) as queries:
        response = platform_api.get("/api/platform/organizations/acme/usage/")
    assert response.status_code == 200
    body = response.json()
    assert {"members", "leads", "deals", "schema_bytes", "api_requests_30d", "collected_at"} <= set(body)
    assert not any(org.schema_name in query["sql"] for query in queries.captured_queries)
    assert len(queries.captured_queries) <= 6
    assert platform_api.get("/api/platform/organizations/nosuch/usage/").status_code == 404


def test_usage_is_for_operators_only(api):
    member_token = api(Role.ADMIN)._credentials["HTTP_AUTHORIZATION"]
    response = Client(HTTP_HOST=host_of(None)).get(
        "/api/platform/organizations/acme/usage/", HTTP_AUTHORIZATION=member_token
    )
    assert response.status_code == 401


@pytest.fixture
def console(operator) -> Client:
    client = Client(HTTP_HOST=host_of(None))
    client.force_login(operator)
    return client


def test_the_console_shows_an_organization_s_usage(console, org):
    assert 'id="usage-none"' in console.get("/organizations/acme/usage/").content.decode()
    collect(org)
    body = console.get("/organizations/acme/usage/").content.decode()
    row = OrganizationUsage.objects.get(organization=org)
    assert f'<td id="usage-leads">{row.leads}</td>' in body
    assert 'href="/organizations/acme/"' in console.get("/").content.decode()
    assert console.get("/organizations/nosuch/usage/").status_code == 404
