"""An API key acts within its scope, not with its creator's full power: managing members, API keys and
webhooks needs a member's own sign-in, or a key with the admin scope, which no key can grant."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from shared_apps.users.models import ApiKey, Role, User
from tests.conftest import client_for

WEBHOOK = {"url": "https://93.184.215.14/hooks/leadpulse", "event_types": ["lead.created"]}
MANAGEMENT = [
    ("/api/members/", {"email": "new-admin@acme.test", "role": "admin", "password": "Another-long-pass-42"}),
    ("/api/api-keys/", {"name": "second key", "scope": "write"}),
    ("/api/webhooks/", WEBHOOK),
]


def key_client(org, admin_client, **body):
    created = admin_client.post("/api/api-keys/", {"name": "integration", **body}, format="json")
    assert created.status_code == 201, created.content
    client = client_for(org)
    client.credentials(HTTP_X_API_KEY=created.json()["key"])
    return client, created.json()


@pytest.mark.parametrize(("path", "body"), MANAGEMENT)
def test_an_admins_write_key_cannot_manage_members_keys_or_webhooks(org, api, path, body):
    admin = api(Role.ADMIN)
    key, _ = key_client(org, admin, scope="write")
    refused = key.post(path, body, format="json")
    assert refused.status_code == 403
    assert "admin scope" in refused.json()["message"]
    assert key.post("/api/leads/", {"name": "still writes records"}, format="json").status_code == 201
    # the member signed in themselves still can
    assert admin.post(path, body, format="json").status_code == 201


def test_the_admin_scope_is_off_by_default(org, api):
    _, created = key_client(org, api(Role.ADMIN))
    assert created["scope"] == "read"


def test_an_admin_scoped_key_manages_but_cannot_mint_admin_keys(org, api):
    admin = api(Role.ADMIN)
    key, created = key_client(org, admin, scope="admin")
    member = key.post("/api/members/", MANAGEMENT[0][1], format="json")
    assert member.status_code == 201
    minted = key.post("/api/api-keys/", {"name": "child", "scope": "admin"}, format="json")
    assert minted.status_code == 403 and minted.json()["code"] == "admin_scope_needs_member"
    child = key.post("/api/api-keys/", {"name": "child", "scope": "write"}, format="json")
    assert child.status_code == 201
    grandchild_client = client_for(org)
    grandchild_client.credentials(HTTP_X_API_KEY=child.json()["key"])
    assert grandchild_client.get("/api/leads/").status_code == 200

    # revoking the key revokes what was made through it
    assert admin.post(f"/api/api-keys/{created['id']}/revoke/").status_code == 200
    assert key.get("/api/leads/").status_code == 401
    assert grandchild_client.get("/api/leads/").status_code == 401
    with schema_context(org.schema_name):
        assert ApiKey.objects.get(pk=child.json()["id"]).revoked_at is not None
        assert User.objects.filter(email="new-admin@acme.test").exists()  # members stay members


def test_a_read_key_still_cannot_write_and_a_write_key_still_writes_records(org, api):
    admin = api(Role.ADMIN)
    reader, _ = key_client(org, admin, scope="read")
    assert reader.post("/api/leads/", {"name": "x"}, format="json").status_code == 403
    assert reader.get("/api/members/").status_code == 200
