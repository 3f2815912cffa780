"""Tokens and API keys are looked up from the cache once warm, and every revocation reaches it at once."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tests.conftest import client_for


def _auth_queries(client, path="/api/me/"):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content
    sql = [query["sql"] for query in captured.captured_queries]
    return [q for q in sql if "users_authtoken" in q or "users_apikey" in q]


def test_a_warm_token_costs_no_query(org, member):
    client = client_for(org, member())
    assert _auth_queries(client)  # first request: looked up
    assert _auth_queries(client) == []


def test_a_warm_api_key_costs_no_query(api, org):
    admin = api(Role.ADMIN)
    raw = admin.post("/api/api-keys/", {"name": "k", "scope": "read"}, format="json").json()["key"]
    key = client_for(org)
    key.credentials(HTTP_X_API_KEY=raw)
    assert _auth_queries(key, "/api/leads/")
    assert _auth_queries(key, "/api/leads/") == []


def test_sign_out_ends_a_cached_token(org, member):
    client = client_for(org, member())
    client.get("/api/me/")
    client.get("/api/me/")  # served from the cache
    assert client.post("/api/auth/sign-out/").status_code == 204
    assert client.get("/api/me/").status_code == 401


def test_revoking_a_key_ends_it_and_the_keys_made_through_it_while_cached(api, org):
    admin = api(Role.ADMIN)
    parent = admin.post("/api/api-keys/", {"name": "p", "scope": "admin"}, format="json").json()
    through_parent = client_for(org)
    through_parent.credentials(HTTP_X_API_KEY=parent["key"])
    child = through_parent.post("/api/api-keys/", {"name": "c", "scope": "read"}, format="json").json()
    child_client = client_for(org)
    child_client.credentials(HTTP_X_API_KEY=child["key"])
    for _ in range(2):
        assert child_client.get("/api/leads/").status_code == 200
        assert through_parent.get("/api/leads/").status_code == 200
    assert admin.post(f"/api/api-keys/{parent['id']}/revoke/").status_code == 200
    assert through_parent.get("/api/leads/").status_code == 401
    assert child_client.get("/api/leads/").status_code == 401  # revoked by a bulk update, in cascade


def test_a_new_role_reaches_a_cached_token(api, org, member):
    admin = api(Role.ADMIN)
    viewer = member(role=Role.VIEWER)
    client = client_for(org, viewer)
    assert client.get("/api/me/").json()["role"] == Role.VIEWER
    assert admin.patch(f"/api/members/{viewer.pk}/", {"role": Role.MANAGER}, format="json").status_code == 200
    assert client.get("/api/me/").json()["role"] == Role.MANAGER


def test_a_cached_token_never_works_in_another_organization(org, other_org, member):
    client = client_for(org, member())
    client.get("/api/me/")
    with schema_context(other_org.schema_name):
        pass
    header = client._credentials["HTTP_AUTHORIZATION"]
    elsewhere = client_for(other_org)
    elsewhere.credentials(HTTP_AUTHORIZATION=header)
    assert elsewhere.get("/api/me/").status_code == 401
