"""The platform dashboard (counts by status and plan, sign-ups per week, noisiest organizations) and bulk
actions with confirmation, each organization audited."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shared_apps.audit.models import AuditEvent
from shared_apps.organizations.models import Organization, OrganizationUsage

BULK = "/api/platform/organizations-bulk/"


def test_the_dashboard_counts_by_status_and_plan_and_ranks_usage(platform_api, org, other_org):
    Organization.objects.filter(slug="globex").update(plan="team", status="suspended")
    OrganizationUsage.objects.create(
        organization=org, collected_at=timezone.now(), api_requests_30d=50, api_5xx_30d=2
    )
    OrganizationUsage.objects.create(
        organization=other_org, collected_at=timezone.now(), api_requests_30d=900
    )
    with CaptureQueriesContext(connection) as queries:
        body = platform_api.get("/api/platform/dashboard/").json()
    assert (
        body["organizations_by_status"]["suspended"] >= 1
        and "template" not in body["organizations_by_status"]
    )
    assert body["organizations_by_plan"]["team"] >= 1
    assert sum(row["count"] for row in body["sign_ups_by_week"]) >= 2
    assert [row["slug"] for row in body["noisiest"]][:2] == ["globex", "acme"]
    assert body["most_errors"] == [{"slug": "acme", "5xx_30d": 2}]
    assert body["api_requests_30d"] == 950
    assert len(queries) < 20


def test_bulk_suspend_needs_the_count_confirmed_and_audits_each(platform_api, org, other_org):
    # the audit log is append-only and browser tests commit theirs: count this test's own events
    suspended = AuditEvent.objects.filter(action="organization.suspended")
    before = suspended.count()
    body = {"action": "suspend", "slugs": ["acme", "globex"], "confirm": 1}
    response = platform_api.post(BULK, body, format="json")
    assert response.status_code == 400 and "confirm" in response.json()["errors"]
    assert Organization.objects.get(slug="acme").status == "active"

    body["confirm"] = 2
    body["slugs"].append("nosuch")
    body["confirm"] = 3
    response = platform_api.post(BULK, body, format="json")
    assert response.status_code == 200
    assert response.json()["done"] == ["acme", "globex"]
    assert response.json()["failed"]["nosuch"]["code"] == "organization_not_found"
    assert set(Organization.objects.filter(slug__in=["acme", "globex"]).values_list("status", flat=True)) == {
        "suspended"
    }
    assert suspended.count() - before == 2


def test_bulk_change_plan(platform_api, org, other_org):
    body = {"action": "change_plan", "slugs": ["acme", "globex"], "confirm": 2, "plan": "business"}
    assert platform_api.post(BULK, body, format="json").json()["done"] == ["acme", "globex"]
    assert set(Organization.objects.filter(slug__in=["acme", "globex"]).values_list("plan", flat=True)) == {
        "business"
    }
    body["plan"] = "gold"
    response = platform_api.post(BULK, body, format="json")
    assert response.status_code == 400 and "plan" in response.json()["errors"]
