"""Time zones of organizations (set by their admins, or by operators at provisioning) and members (on their
own profile), and the zone in force on a request: the member's, else the organization's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.organizations.context import organization_context, organization_zone, zone_for
from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tests.conftest import PASSWORD, client_for, host_of

SETTINGS = "/api/settings/organization/"


def test_admins_set_the_organizations_zone_and_it_is_audited(org, api):
    client = api(Role.ADMIN)
    assert client.get(SETTINGS).json()["time_zone"] == "UTC"
    response = client.patch(SETTINGS, {"time_zone": "Pacific/Auckland"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["time_zone"] == "Pacific/Auckland"
    assert Organization.objects.get(pk=org.pk).time_zone == "Pacific/Auckland"
    with schema_context(org.schema_name):
        [event] = AuditEvent.objects.filter(action="settings.changed")
    assert event.changes == {"time_zone": ["UTC", "Pacific/Auckland"]}
    # the next request (host lookup cache dropped on save) runs in the new zone
    assert client.get("/api/me/").json()["time_zone_in_force"] == "Pacific/Auckland"


@pytest.mark.parametrize("value", ["Mars/Olympus", "", "../../etc/passwd", 5, None, "x" * 100])
def test_an_unknown_zone_is_a_400_naming_the_field(org, api, value):
    response = api(Role.ADMIN).patch(SETTINGS, {"time_zone": value}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["time_zone"]
    assert Organization.objects.get(pk=org.pk).time_zone == "UTC"


def test_read_only_or_unknown_settings_are_refused_by_name(org, api):
    response = api(Role.ADMIN).patch(SETTINGS, {"slug": "other", "time_zone": "UTC"}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["slug"]
    response = api(Role.ADMIN).patch(SETTINGS, ["time_zone"], format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP, Role.VIEWER])
def test_only_admins_change_the_settings(org, api, role):
    client = api(role)
    assert client.get(SETTINGS).status_code == 200
    response = client.patch(SETTINGS, {"time_zone": "Pacific/Auckland"}, format="json")
    assert response.status_code == 403
    assert Organization.objects.get(pk=org.pk).time_zone == "UTC"


def test_one_organizations_zone_does_not_reach_another(org, other_org, api):
    api(Role.ADMIN).patch(SETTINGS, {"time_zone": "Pacific/Auckland"}, format="json")
    assert api(Role.ADMIN, organization=other_org).get(SETTINGS).json()["time_zone"] == "UTC"
    assert Organization.objects.get(pk=other_org.pk).time_zone == "UTC"


def test_a_member_sets_their_own_zone_on_their_profile(org, member):
    rep = member(role=Role.VIEWER)
    client = client_for(org, rep)
    me = client.get("/api/me/").json()
    assert (me["time_zone"], me["time_zone_in_force"]) == ("", "UTC")
    response = client.patch("/api/me/", {"time_zone": "America/Los_Angeles"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["time_zone_in_force"] == "America/Los_Angeles"
    response = client.patch("/api/me/", {"time_zone": "Nowhere/Special"}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["time_zone"]
    assert client.patch("/api/me/", {"time_zone": ""}, format="json").json()["time_zone"] == ""


def test_an_api_key_cannot_change_its_members_profile(org, api):
    admin = api(Role.ADMIN)
    created = admin.post("/api/api-keys/", {"name": "k", "scope": "write"}, format="json").json()
    client = client_for(org)
    client.credentials(HTTP_X_API_KEY=created["key"])
    response = client.patch("/api/me/", {"time_zone": "Pacific/Auckland"}, format="json")
    assert response.status_code == 403


def test_the_zone_in_force_is_the_members_else_the_organizations(org):
    Organization.objects.filter(pk=org.pk).update(time_zone="America/Los_Angeles")
    org.time_zone = "America/Los_Angeles"
    assert str(zone_for(User(time_zone="Pacific/Auckland"), org)) == "Pacific/Auckland"
    assert str(zone_for(User(time_zone=""), org)) == "America/Los_Angeles"
    assert str(zone_for(None, org)) == "America/Los_Angeles"
    with organization_context(org):
        assert str(timezone.get_current_timezone()) == "America/Los_Angeles"
        assert str(organization_zone()) == "America/Los_Angeles"
    assert str(timezone.get_current_timezone()) == "UTC"


def test_web_pages_render_in_the_members_zone_which_they_set_there(org, member, client):
    Organization.objects.filter(pk=org.pk).update(time_zone="Pacific/Auckland")
    rep = member(role=Role.REP)
    host = host_of(org)
    signed_in = client.post("/sign-in/", {"email": rep.email, "password": PASSWORD}, HTTP_HOST=host)
    assert signed_in.status_code == 302, signed_in.content
    page = client.get("/settings/time-zone/", HTTP_HOST=host)
    assert page.status_code == 200 and b"(Pacific/Auckland)" in page.content  # the organization's

    saved = client.post("/settings/time-zone/", {"time_zone": "America/Los_Angeles"}, HTTP_HOST=host)
    assert saved.status_code == 302
    page = client.get("/settings/time-zone/", HTTP_HOST=host)
    assert b"(America/Los_Angeles)" in page.content  # rendered in the member's own zone now
    refused = client.post("/settings/time-zone/", {"time_zone": "Atlantis/Lost"}, HTTP_HOST=host)
    assert refused.status_code == 400
    with schema_context(org.schema_name):
        assert User.objects.get(pk=rep.pk).time_zone == "America/Los_Angeles"


def test_operators_provision_an_organization_in_a_zone(platform_api):
    body = {"name": "Kiwi", "slug": "kiwi", "admin_email": "ceo@kiwi.test", "admin_password": PASSWORD}
    refused = platform_api.post(
        "/api/platform/organizations/", {**body, "time_zone": "Middle/Earth"}, format="json"
    )
    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["time_zone"]
    created = platform_api.post(
        "/api/platform/organizations/", {**body, "time_zone": "Pacific/Auckland"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["time_zone"] == "Pacific/Auckland"
    assert Organization.objects.get(slug="kiwi").time_zone == "Pacific/Auckland"


def test_the_orgs_command_provisions_in_a_zone(public):
    call_command(
        "orgs",
        "provision",
        "wellington",
        "--name=Wellington",
        "--admin-email=boss@wellington.test",
        f"--admin-password={PASSWORD}",
        "--time-zone=Pacific/Auckland",
    )
    assert Organization.objects.get(slug="wellington").time_zone == "Pacific/Auckland"


def test_jobs_and_requests_enter_the_organizations_zone(org):
    # a fixed instant seen through the organization's calendar, as a job entering it sees it
    Organization.objects.filter(pk=org.pk).update(time_zone="Pacific/Auckland")
    with organization_context(Organization.objects.get(pk=org.pk)):
        instant = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
        assert timezone.localdate(instant).isoformat() == "2026-04-01"
