"""The platform's audit log on the root host: operators' actions on organizations, read by operators only."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from shared_apps.audit.models import AuditEvent
from shared_apps.organizations.models import Domain, Organization
from shared_apps.users.models import Role, User
from tests.conftest import PASSWORD, client_for, host_of

URL = "/api/platform/organizations/"


@pytest.fixture(autouse=True)
def _started() -> None:
    # the log is append-only: rows of tests that committed (other suites) stay, so only this test's count
    STARTED[0] = timezone.now()


STARTED = [timezone.now()]


def platform_events(slug: str) -> list[tuple[str, dict]]:
    with schema_context("public"):
        rows = AuditEvent.objects.filter(
            target_repr=slug, target_type="organizations.organization", at__gte=STARTED[0]
        )
        return [(event.action, event.changes) for event in rows.order_by("id")]


def test_operators_actions_on_an_organization_are_recorded_in_the_platform_log(
    platform_api: APIClient, operator: User
) -> None:
    body = {"name": "Hooli", "slug": "hooli", "admin_email": "ceo@hooli.test", "admin_password": PASSWORD}
    assert platform_api.post(URL, body, format="json").status_code == 201
    platform_api.patch(f"{URL}hooli/", {"status": "suspended", "plan": "team"}, format="json")
    platform_api.patch(f"{URL}hooli/", {"status": "active"}, format="json")
    platform_api.post(f"{URL}hooli/domains/", {"domain": "crm.hooli.example"}, format="json")
    platform_api.delete(f"{URL}hooli/domains/crm.hooli.example/")
    platform_api.delete(f"{URL}hooli/")
    assert platform_api.post(f"{URL}hooli/purge/", {"confirm": "hooli"}, format="json").status_code == 204

    recorded = platform_events("hooli")
    assert [action for action, _ in recorded] == [
        "organization.provisioned",
        "organization.suspended",
        "organization.updated",
        "organization.resumed",
        "domain.added",
        "domain.removed",
        "organization.deleted",
        "organization.purged",
    ]
    changes = dict(recorded)
    assert changes["organization.provisioned"]["admin_email"] == "ceo@hooli.test"
    assert PASSWORD not in str(changes)
    assert changes["organization.suspended"] == {"status": ["active", "suspended"]}
    assert changes["organization.updated"] == {"plan": ["free", "team"]}
    assert changes["domain.added"] == {"domain": "crm.hooli.example"}
    with schema_context("public"):
        provisioned = AuditEvent.objects.get(
            action="organization.provisioned", target_repr="hooli", at__gte=STARTED[0]
        )
    assert (provisioned.actor_id, provisioned.actor_email, provisioned.via) == (
        operator.pk,
        operator.email,
        "api",
    )


def test_the_console_records_provisioning_and_suspension(operator: User) -> None:
    console = Client(HTTP_HOST=host_of(None))
    console.force_login(operator)
    form = {
        "name": "Initech",
        "slug": "initech",
        "plan": "free",
        "admin_email": "bill@initech.test",
        "admin_name": "",
        "admin_password": PASSWORD,
    }
    assert console.post("/organizations/", form).status_code == 302
    assert console.post("/organizations/initech/status/", {"status": "suspended"}).status_code == 302
    assert [action for action, _ in platform_events("initech")] == [
        "organization.provisioned",
        "organization.suspended",
    ]


def test_operators_read_filter_and_export_the_platform_log(
    platform_api: APIClient, org: Organization, member: Callable[..., User]
) -> None:
    platform_api.patch(f"{URL}acme/", {"status": "suspended"}, format="json")
    platform_api.patch(f"{URL}acme/", {"status": "active"}, format="json")
    since = STARTED[0].isoformat()
    query = {"action": "organization.", "page_size": 1, "since": since}
    listed = platform_api.get("/api/platform/audit-log/", query).json()
    assert [event["action"] for event in listed["results"]] == ["organization.resumed"]
    assert listed["next"]
    assert platform_api.get("/api/platform/audit-log/", {"since": "soon"}).status_code == 400

    response = platform_api.get(
        "/api/platform/audit-log/export.csv", {"action": "organization.", "since": since}
    )
    assert response.status_code == 200 and response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["action"] for row in rows] == ["organization.resumed", "organization.suspended"]
    with schema_context("public"):
        assert AuditEvent.objects.filter(action="audit_log.exported", at__gte=STARTED[0]).count() == 1
    # an organization's log holds none of it, and its admins cannot reach the platform's
    admin = client_for(org, member(Role.ADMIN))
    assert admin.get("/api/audit-log/", {"action": "organization."}).json()["results"] == []
    assert admin.get("/api/platform/audit-log/").status_code == 404


def test_non_operators_are_refused(public: None) -> None:
    assert client_for(None).get("/api/platform/audit-log/").status_code == 401
    page = Client(HTTP_HOST=host_of(None)).get("/audit-log/")
    assert page.status_code == 302 and "/sign-in/" in page["Location"]


def test_the_django_admin_records_its_changes_to_an_organization(operator: User, org: Organization) -> None:
    admin = Client(HTTP_HOST=host_of(None))
    with schema_context("public"):
        admin.force_login(operator)
    form: dict[str, object] = {
        "name": "Acme Renamed",
        "plan": "team",
        "default_currency": org.default_currency,
    }
    domains = list(Domain.objects.filter(tenant=org).values_list("pk", flat=True))  # the inline, as shown
    form.update({"domains-TOTAL_FORMS": len(domains), "domains-INITIAL_FORMS": len(domains)})
    for number, domain_id in enumerate(domains):
        form.update({f"domains-{number}-id": domain_id, f"domains-{number}-tenant": org.pk})
    response = admin.post(f"/admin/organizations/organization/{org.pk}/change/", form)
    assert response.status_code == 302
    saved = Organization.objects.get(pk=org.pk)
    assert (saved.name, saved.plan) == ("Acme Renamed", "team")
    assert platform_events("acme") == [
        ("organization.updated", {"name": [org.name, "Acme Renamed"], "plan": [org.plan, "team"]})
    ]
    admin.post(
        "/admin/organizations/organization/",
        {"action": "suspend", "_selected_action": [org.pk]},
    )
    assert platform_events("acme")[-1] == ("organization.suspended", {"status": ["active", "suspended"]})
