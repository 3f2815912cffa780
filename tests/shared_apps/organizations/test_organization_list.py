"""The operators' organization list in the platform API: searched (name, slug, domain, admin email),
filtered (status, plan, created, last active, database), sorted by any column, a page at a time, from the
public schema only and in a number of queries that does not grow with the organizations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shared_apps.organizations.models import Domain, Organization, OrganizationUsage

URL = "/api/platform/organizations/"


def listed(platform_api, **params) -> list[str]:
    response = platform_api.get(URL, {"page_size": 200, **params})
    assert response.status_code == 200, response.content
    return [row["slug"] for row in response.json()["results"]]


def row_only(slug: str, *, name: str = "", admin: str = "", **fields) -> Organization:
    """An organization's public rows only (no schema): the list must never need one."""
    organization = Organization.objects.create(
        name=name or slug.title(),
        slug=slug,
        schema_name=f"org_{slug.replace('-', '_')}",
        admin_emails=admin,
        **fields,
    )
    Domain.objects.create(domain=f"{slug}.testserver.local", tenant=organization, is_primary=True)
    return organization


def usage_of(organization: Organization, **figures) -> OrganizationUsage:
    return OrganizationUsage.objects.create(organization=organization, collected_at=timezone.now(), **figures)


@pytest.fixture
def fleet(org, other_org):
    """Three row-only organizations beside acme and globex, with usage rows for two of them."""
    now = timezone.now()
    old = row_only("zeta-works", name="Zeta Works", admin="boss@zeta.example", plan="team")
    Organization.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=400))
    quiet = row_only("quiet-co", name="Quiet Company", admin="owner@quiet.example", status="suspended")
    busy = row_only("busy-bees", name="Busy Bees", admin="queen@hive.example", database="shard2")
    Domain.objects.create(domain="crm.hive-custom.example", tenant=busy, is_primary=False)
    usage_of(busy, api_requests_30d=900, leads=50, members=7, last_active_at=now, failed_jobs=3)
    usage_of(old, api_requests_30d=10, leads=5, members=2, last_active_at=now - timedelta(days=90))
    return {"old": old, "quiet": quiet, "busy": busy}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("bees", ["busy-bees"]),  # name
        ("ZETA", ["zeta-works"]),  # slug and name, any case
        ("hive-custom", ["busy-bees"]),  # a custom domain
        ("owner@quiet", ["quiet-co"]),  # an admin's email
        ("nothing-like-it", []),
    ],
)
def test_search_finds_by_name_slug_domain_and_admin_email(platform_api, fleet, query, expected):
    assert listed(platform_api, q=query) == expected


def test_filters_narrow_by_status_plan_database_and_dates(platform_api, fleet):
    today = timezone.now().date()
    assert listed(platform_api, status="suspended") == ["quiet-co"]
    assert "quiet-co" in listed(platform_api) and "quiet-co" not in listed(platform_api, status="active")
    assert listed(platform_api, plan="team") == ["zeta-works"]
    assert listed(platform_api, database="shard2") == ["busy-bees"]
    assert listed(platform_api, created_before=(today - timedelta(days=300)).isoformat()) == ["zeta-works"]
    assert "zeta-works" not in listed(platform_api, created_after=(today - timedelta(days=30)).isoformat())
    assert listed(platform_api, last_active_after=(today - timedelta(days=7)).isoformat()) == ["busy-bees"]
    recent = (today - timedelta(days=100)).isoformat()
    assert listed(
        platform_api, last_active_after=recent, last_active_before=(today - timedelta(days=30)).isoformat()
    ) == ["zeta-works"]
    assert listed(platform_api, q="e", plan="team", status="active") == ["zeta-works"]


def test_any_column_sorts_both_ways_with_organizations_never_measured_last(platform_api, fleet):
    assert listed(platform_api, ordering="-api_requests_30d")[:2] == ["busy-bees", "zeta-works"]
    assert listed(platform_api, ordering="api_requests_30d")[-2:] == ["zeta-works", "busy-bees"]
    by_activity = listed(platform_api, ordering="-last_active_at")
    assert by_activity[:2] == ["busy-bees", "zeta-works"]
    assert listed(platform_api, ordering="last_active_at")[:2] == ["zeta-works", "busy-bees"]
    names = listed(platform_api, ordering="-name")
    assert names == sorted(names, key=lambda slug: Organization.objects.get(slug=slug).name, reverse=True)
    assert listed(platform_api, ordering="-created_at")[-1] == "zeta-works"
    assert listed(platform_api, ordering="-failed_jobs")[0] == "busy-bees"
    assert listed(platform_api, ordering="-records")[0] == "busy-bees"
    assert listed(platform_api, ordering="status")[-1] == "quiet-co"


def test_rows_carry_the_collected_usage(platform_api, fleet):
    rows = {row["slug"]: row for row in platform_api.get(URL, {"q": "b"}).json()["results"]}
    busy = rows["busy-bees"]
    assert (busy["members"], busy["records"], busy["api_requests_30d"], busy["failed_jobs"]) == (
        7,
        50,
        900,
        3,
    )
    assert busy["last_active_at"] is not None and busy["database"] == "shard2"
    assert {domain["domain"] for domain in busy["domains"]} == {
        "busy-bees.testserver.local",
        "crm.hive-custom.example",
    }


def test_pages_are_numbered_and_bounded(platform_api, fleet):
    first = platform_api.get(URL, {"page_size": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["next"]
    second = platform_api.get(first["next"]).json()
    assert second["results"][0]["slug"] > first["results"][-1]["slug"]
    assert platform_api.get(URL, {"page": 99}).status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"ordering": "password"}, "ordering"),
        ({"ordering": "--name"}, "ordering"),
        ({"status": "template"}, "status"),
        ({"created_after": "yesterday"}, "created"),
        ({"last_active_before": "2026-13-45"}, "last_active"),
        ({"q": "x" * 300}, "q"),
    ],
)
def test_bad_parameters_are_400_naming_them(platform_api, fleet, params, field):
    response = platform_api.get(URL, params)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_the_list_reads_the_public_schema_in_constant_queries(platform_api, fleet):
    def queries_for(**params) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert platform_api.get(URL, params).status_code == 200
        return [query["sql"] for query in captured.captured_queries]

    queries_for()  # the operator's token is read once, then cached
    few = queries_for(q="e", ordering="-last_active_at")
    for number in range(30):
        usage_of(row_only(f"extra-{number:02d}", admin=f"a{number}@extra.example"), leads=number)
    many = queries_for(q="e", ordering="-last_active_at")
    assert len(many) == len(few) <= 8
    assert not any("org_acme" in sql or "org_busy_bees" in sql for sql in many)


def test_the_list_is_documented_in_the_openapi_schema(platform_api):
    schema = platform_api.get("/api/schema/", {"format": "json"}).json()
    names = {parameter["name"] for parameter in schema["paths"][URL]["get"]["parameters"]}
    assert {
        "q",
        "status",
        "plan",
        "database",
        "created_after",
        "last_active_before",
        "ordering",
        "page",
    } <= names
