"""Support access: an operator opens an organization read-only, for a limited time, with a reason; writes are
refused, the organization's admins see it, and both audit logs record it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.organizations.models import SupportSession
from shared_apps.users.credentials_cache import credentials_changed
from shared_apps.users.models import AuthToken, Role
from tests.conftest import client_for, host_of

URL = "/api/platform/organizations/acme/support-sessions/"
REASON = "Customer ticket 4711: leads list looks empty"


def open_session(platform_api, **body):
    return platform_api.post(URL, {"reason": REASON, "minutes": 30, **body}, format="json")


def support_client(organization, token):
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST=host_of(organization))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_an_operator_reads_the_organization_and_cannot_write(platform_api, org, api):
    assert api(Role.ADMIN).post("/api/leads/", {"name": "Seen by support"}, format="json").status_code == 201
    response = open_session(platform_api)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["host"] == host_of(org) and body["reason"] == REASON
    client = support_client(org, body["token"])

    leads = client.get("/api/leads/")
    assert leads.status_code == 200
    assert "Seen by support" in [row["name"] for row in leads.json()["results"]]
    for method, path in (
        ("post", "/api/leads/"),
        ("patch", "/api/settings/organization/"),
        ("delete", "/api/leads/1/"),
    ):
        response = getattr(client, method)(path, {"name": "x"}, format="json")
        assert (response.status_code, response.json()["code"]) == (403, "support_read_only"), (method, path)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "short"}, "reason"),
        ({"minutes": 241}, "minutes"),
        ({"minutes": 0}, "minutes"),
    ],
)
def test_a_reason_is_mandatory_and_at_most_4_hours(platform_api, org, body, field):
    response = open_session(platform_api, **body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not SupportSession.objects.exists()


def test_the_token_expires_with_the_session(platform_api, org):
    token = open_session(platform_api, minutes=30).json()["token"]
    client = support_client(org, token)
    assert client.get("/api/leads/").status_code == 200
    session = SupportSession.objects.get()
    assert timedelta(minutes=29) < session.expires_at - timezone.now() <= timedelta(minutes=30)
    with schema_context(org.schema_name):  # 31 minutes later: the token's expiry is the session's
        token_row = AuthToken.objects.get(user_id=session.member_id)
        assert token_row.expires_at == session.expires_at
        AuthToken.objects.filter(pk=token_row.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
        credentials_changed()  # a bulk update fires no signal: the cached token is told (credentials_cache)
    assert client.get("/api/leads/").status_code == 401


def test_an_ended_session_lets_nothing_in(platform_api, org):
    body = open_session(platform_api).json()
    response = platform_api.delete(f"{URL}{body['id']}/")
    assert response.status_code == 200 and response.json()["ended_at"]
    assert support_client(org, body["token"]).get("/api/leads/").status_code == 401


def test_the_token_works_on_its_organization_only(platform_api, other_org):
    token = open_session(platform_api).json()["token"]
    assert support_client(other_org, token).get("/api/leads/").status_code == 401


def test_admins_see_the_sessions_and_both_audit_logs_record_them(platform_api, org, api, operator):
    open_session(platform_api)
    admin = api(Role.ADMIN)
    rows = admin.get("/api/settings/support-access/").json()
    assert [(row["operator_email"], row["reason"]) for row in rows] == [(operator.email, REASON)]
    assert api(Role.MANAGER).get("/api/settings/support-access/").status_code == 403

    # the audit log is append-only and browser tests commit theirs: this test's operator's own events
    with schema_context("public"):
        platform = AuditEvent.objects.filter(action="support.opened", actor_email=operator.email).get()
    assert (platform.actor_email, platform.target_repr) == (operator.email, "acme")
    assert platform.changes["reason"] == REASON
    with schema_context(org.schema_name):
        inside = AuditEvent.objects.filter(action="support.opened", actor_email=operator.email).get()
        assert (inside.actor_email, inside.changes["reason"]) == (operator.email, REASON)


def test_only_operators_open_sessions(api, org):
    member_token = api(Role.ADMIN)._credentials["HTTP_AUTHORIZATION"]
    response = client_for(None).post(URL, {"reason": REASON}, format="json", HTTP_AUTHORIZATION=member_token)
    assert response.status_code == 401
