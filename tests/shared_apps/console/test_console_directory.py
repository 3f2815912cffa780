"""The console's organization list (search, filters, sort, pages), one organization's page, the platform
dashboard and bulk actions with a confirmation step: server-rendered from the public schema only, in a number
of queries that does not grow with the organizations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shared_apps.audit.models import AuditEvent
from shared_apps.organizations.models import BulkOperation, Domain, Organization, OrganizationUsage
from tests.conftest import host_of


@pytest.fixture
def console(operator) -> Client:
    client = Client(HTTP_HOST=host_of(None))
    client.force_login(operator)
    return client


def row_only(slug: str, **fields) -> Organization:
    organization = Organization.objects.create(
        name=fields.pop("name", slug.title()),
        slug=slug,
        schema_name=f"org_{slug.replace('-', '_')}",
        **fields,
    )
    Domain.objects.create(domain=f"{slug}.testserver.local", tenant=organization, is_primary=True)
    return organization


def rows_of(body: str) -> list[str]:
    """The organizations' slugs in the list's order."""
    import re

    return re.findall(r'<tr id="org-([a-z0-9-]+)"', body)


@pytest.fixture
def fleet(org, other_org):
    now = timezone.now()
    loud = row_only("loud-labs", name="Loud Labs", admin_emails="ceo@loud.example", plan="business")
    OrganizationUsage.objects.create(
        organization=loud,
        collected_at=now,
        api_requests_30d=5000,
        api_5xx_30d=40,
        failed_jobs=4,
        webhook_failures_30d=9,
        job_seconds_30d=321.5,
        last_active_at=now,
        members=12,
        leads=300,
    )
    calm = row_only("calm-co", name="Calm Co", status="suspended")
    OrganizationUsage.objects.create(organization=calm, collected_at=now, api_requests_30d=3)
    return {"loud": loud, "calm": calm}


def test_the_list_searches_filters_and_sorts(console, fleet):
    body = console.get("/", {"q": "ceo@loud"}).content.decode()
    assert rows_of(body) == ["loud-labs"]
    assert rows_of(console.get("/", {"status": "suspended"}).content.decode()) == ["calm-co"]
    assert rows_of(console.get("/", {"plan": "business"}).content.decode()) == ["loud-labs"]
    by_requests = console.get("/", {"ordering": "-api_requests_30d"}).content.decode()
    assert rows_of(by_requests)[:2] == ["loud-labs", "calm-co"]
    # the column header says how the list is sorted and links to the other direction
    assert 'aria-sort="descending"><a href="?ordering=api_requests_30d"' in by_requests
    assert rows_of(console.get("/", {"ordering": "api_requests_30d"}).content.decode())[-1] == "loud-labs"
    today = timezone.now().date().isoformat()
    assert rows_of(console.get("/", {"last_active_after": today}).content.decode()) == ["loud-labs"]


def test_a_bad_sort_or_filter_is_a_400_with_a_message(console, fleet):
    response = console.get("/", {"ordering": "secret"})
    assert response.status_code == 400 and "Sort by one of" in response.content.decode()
    assert console.get("/", {"created_after": "soon"}).status_code == 400


def test_the_list_pages_and_costs_the_same_queries_at_any_size(console, fleet):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert console.get("/", {"q": "o", "ordering": "-last_active_at"}).status_code == 200
        return len(captured.captured_queries)

    few = queries()
    now = timezone.now()
    for number in range(60):
        extra = row_only(f"more-{number:02d}")
        OrganizationUsage.objects.create(organization=extra, collected_at=now, leads=number)
    assert queries() == few
    body = console.get("/", {"q": "more-"}).content.decode()
    assert len(rows_of(body)) == 50 and "Page 1 of 2 (60 organizations)" in body
    assert len(rows_of(console.get("/", {"q": "more-", "page": 2}).content.decode())) == 10


def test_an_organizations_page_shows_usage_placement_and_health(console, fleet, org):
    body = console.get("/organizations/loud-labs/").content.decode()
    for text in ("Loud Labs", "default", "level with the template", "321.5 s", ">4<", ">12<"):
        assert text in body, text
    OrganizationUsage.objects.filter(organization=fleet["loud"]).update(migrations_pending=2)
    assert "2 behind the template" in console.get("/organizations/loud-labs/").content.decode()
    assert "Not collected yet" in console.get("/organizations/acme/").content.decode()
    assert console.get("/organizations/nosuch/").status_code == 404
    with CaptureQueriesContext(connection) as captured:
        console.get("/organizations/loud-labs/")
    assert not any("org_loud_labs" in query["sql"] for query in captured.captured_queries)


def test_the_dashboard_shows_status_plan_sign_ups_and_the_noisiest(console, fleet):
    with CaptureQueriesContext(connection) as captured:
        body = console.get("/dashboard/").content.decode()
    for fragment in (
        'data-status="suspended"',
        'data-plan="business"',
        "Sign-ups per week",
        'id="noisiest"',
        'loud-labs</a> <span class="num">5000 requests',
        'loud-labs</a> <span class="num">40 5xx',
        'loud-labs</a> <span class="num">321.5 s',
        'loud-labs</a> <span class="num">9 failures',
        'loud-labs</a> <span class="num">4 failed',
    ):
        assert fragment in body, fragment
    assert len(captured.captured_queries) <= 16


def test_a_bulk_action_asks_for_confirmation_first_and_is_audited(console, fleet, other_org):
    suspended = AuditEvent.objects.filter(action="organization.suspended")
    before = suspended.count()
    review = console.post("/bulk/", {"action": "suspend", "slugs": ["loud-labs", "globex"]})
    body = review.content.decode()
    assert review.status_code == 200 and "Type the number of organizations (2) to confirm" in body
    assert Organization.objects.get(slug="loud-labs").status == "active"  # nothing done yet

    wrong = console.post(
        "/bulk/confirm/", {"action": "suspend", "slugs": ["loud-labs", "globex"], "confirm": "3"}
    )
    assert wrong.status_code == 302 and Organization.objects.get(slug="loud-labs").status == "active"

    done = console.post(
        "/bulk/confirm/", {"action": "suspend", "slugs": ["loud-labs", "globex"], "confirm": "2"}
    )
    assert (done.status_code, done["Location"]) == (302, "/")
    assert set(
        Organization.objects.filter(slug__in=["loud-labs", "globex"]).values_list("status", flat=True)
    ) == {"suspended"}
    assert suspended.count() - before == 2


def test_a_bulk_plan_change_needs_a_plan(console, fleet):
    response = console.post("/bulk/", {"action": "change_plan", "slugs": ["loud-labs"]})
    assert response.status_code == 302
    data = {"action": "change_plan", "slugs": ["loud-labs"], "plan": "team", "confirm": "1"}
    assert "Confirm: Change plan" in console.post("/bulk/", data).content.decode()
    console.post("/bulk/confirm/", data)
    assert Organization.objects.get(slug="loud-labs").plan == "team"


def test_a_bulk_migrate_is_queued_and_followed_on_its_page(
    console, org, run_jobs, django_capture_on_commit_callbacks
):
    queued = AuditEvent.objects.filter(action="organization.migration_queued")
    before = queued.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = console.post("/bulk/confirm/", {"action": "migrate", "slugs": ["acme"], "confirm": "1"})
    operation = BulkOperation.objects.latest("id")
    assert response["Location"] == f"/bulk/{operation.pk}/"
    assert operation.results == {"acme": {"status": "pending"}} and queued.count() - before == 1
    assert "pending" in console.get(response["Location"]).content.decode()
    run_jobs("low")
    operation.refresh_from_db()
    assert operation.results["acme"] == {"status": "done", "migrated": False}
    assert operation.status == "finished"
    assert "already up to date" in console.get(response["Location"]).content.decode()


def test_opening_a_support_session_from_the_console(console, org):
    refused = console.post("/organizations/acme/support/", {"reason": "short", "minutes": 30})
    assert refused.status_code == 400 and "at least 10 characters" in refused.content.decode()
    opened = console.post(
        "/organizations/acme/support/", {"reason": "Ticket 4411: imports stuck", "minutes": 30}
    )
    body = opened.content.decode()
    assert opened.status_code == 200 and 'id="support-token">lps_' in body
    assert "Ticket 4411: imports stuck" in console.get("/organizations/acme/").content.decode()


def test_organizations_older_than_the_range_are_left_out(console, fleet):
    Organization.objects.filter(pk=fleet["loud"].pk).update(created_at=timezone.now() - timedelta(days=500))
    recent = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert "loud-labs" not in rows_of(console.get("/", {"created_after": recent}).content.decode())
