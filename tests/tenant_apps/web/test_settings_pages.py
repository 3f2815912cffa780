"""The settings index and the admins' API keys and webhooks pages (issue 20): a secret shown once, revoking
and rotating through the same services as the API, and nobody but admins in."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import ApiKey, Role, token_digest
from tenant_apps.webhooks.models import Delivery, Endpoint, OutboxEvent
from tests.conftest import host_of
from tests.tenant_apps.webhooks.conftest import make_endpoint

__all__ = ["make_endpoint"]

PUBLIC_URL = "https://93.184.215.14/hook"


def secret_on(page) -> str:
    found = re.search(r'id="new-secret" class="secret" readonly value="([^"]+)"', page.content.decode())
    assert found, page.content.decode()[:3000]
    return found.group(1)


def test_the_settings_index_links_what_each_role_may_open(web):
    admin_page = web(Role.ADMIN).get("/settings/").content.decode()
    for url in (
        "/settings/members/",
        "/settings/api-keys/",
        "/settings/webhooks/",
        "/settings/security/",
        "/settings/currency/",
        "/settings/audit-log/",
        "/settings/email/",
    ):
        assert f'href="{url}"' in admin_page, url
    rep_page = web(Role.REP).get("/settings/").content.decode()
    assert 'href="/settings/security/"' in rep_page
    for url in ("/settings/members/", "/settings/api-keys/", "/settings/webhooks/", "/settings/audit-log/"):
        assert f'href="{url}"' not in rep_page, url


def test_the_top_bar_has_one_settings_link_instead_of_many(web):
    page = web(Role.ADMIN).get("/leads/").content.decode()
    start = page.index('<nav aria-label="Main"')
    nav = page[start : page.index("</nav>", start)]
    assert 'href="/settings/"' in nav
    for url in ("/settings/members/", "/settings/audit-log/", "/settings/currency/", "/settings/email/"):
        assert url not in nav, url


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REP, Role.MANAGER])
def test_only_admins_reach_the_access_pages(web, role, make_endpoint, org):
    client = web(role)
    endpoint = make_endpoint(PUBLIC_URL)
    for path in ("/settings/api-keys/", "/settings/webhooks/", f"/settings/webhooks/{endpoint.pk}/"):
        assert client.get(path).status_code == 403, path
    assert client.post("/settings/api-keys/", {"name": "Mine", "scope": "admin"}).status_code == 403
    assert client.post("/settings/webhooks/", {"url": PUBLIC_URL, "event_types": ["*"]}).status_code == 403
    rotate = client.post(f"/settings/webhooks/{endpoint.pk}/", {"operation": "rotate"})
    assert rotate.status_code == 403
    with schema_context(org.schema_name):
        assert not ApiKey.objects.exists()
        assert Endpoint.objects.count() == 1


def test_an_api_key_is_shown_once_works_and_is_revoked(org, web):
    client = web(Role.ADMIN)
    created = client.post("/settings/api-keys/", {"name": "Zapier", "scope": "read"})
    assert created.status_code == 200
    raw = secret_on(created)
    assert raw.startswith("lpk_")
    with schema_context(org.schema_name):
        key = ApiKey.objects.get(name="Zapier")
        assert key.digest == token_digest(raw)
        assert AuditEvent.objects.filter(action="api_key.created").exists()
    api = Client(HTTP_HOST=host_of(org), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/leads/").status_code == 200
    listing = client.get("/settings/api-keys/").content.decode()
    assert raw not in listing and f"lpk_{key.prefix}_" in listing  # never shown again
    revoked = client.post(f"/settings/api-keys/{key.pk}/revoke/")
    assert (revoked.status_code, revoked["Location"]) == (302, "/settings/api-keys/")
    assert api.get("/api/leads/").status_code == 401
    assert "Revoked" in client.get("/settings/api-keys/").content.decode()
    assert client.post("/settings/api-keys/999999/revoke/").status_code == 404


def test_an_api_keys_bad_input_is_shown_by_field(web):
    client = web(Role.ADMIN)
    response = client.post("/settings/api-keys/", {"name": "", "scope": "root"})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_name-error"' in body and 'id="id_scope-error"' in body
    past = client.post(
        "/settings/api-keys/", {"name": "Old", "scope": "read", "expires_at": "2001-01-01T00:00"}
    )
    assert past.status_code == 400 and 'id="id_expires_at-error"' in past.content.decode()


def test_a_webhook_is_added_its_secret_rotated_and_its_deliveries_listed(org, web):
    client = web(Role.ADMIN)
    created = client.post(
        "/settings/webhooks/", {"url": PUBLIC_URL, "description": "CRM sync", "event_types": ["lead.*"]}
    )
    assert created.status_code == 200
    first = secret_on(created)
    with schema_context(org.schema_name):
        endpoint = Endpoint.objects.get(url=PUBLIC_URL)
        assert (endpoint.secret, endpoint.event_types) == (first, ["lead.*"])
        event = OutboxEvent.objects.create(topic="lead.created", payload={"type": "lead.created"})
        Delivery.objects.create(endpoint=endpoint, event=event, last_status_code=500, last_error="Boom")
    assert f'href="/settings/webhooks/{endpoint.pk}/"' in client.get("/settings/webhooks/").content.decode()
    detail = client.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert "lead.created" in detail and "HTTP 500" in detail and first not in detail
    rotated = client.post(f"/settings/webhooks/{endpoint.pk}/", {"operation": "rotate"})
    second = secret_on(rotated)
    assert second != first
    paused = client.post(f"/settings/webhooks/{endpoint.pk}/", {"operation": "pause"})
    assert paused.status_code == 302
    with schema_context(org.schema_name):
        endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.is_active) == (second, False)
    assert client.post(f"/settings/webhooks/{endpoint.pk}/", {"operation": "explode"}).status_code == 400
    assert client.get("/settings/webhooks/999999/").status_code == 404


def test_a_webhooks_bad_input_is_shown_by_field(web):
    client = web(Role.ADMIN)
    response = client.post("/settings/webhooks/", {"url": "ftp://nowhere", "event_types": ["nope.*"]})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_url-error"' in body and 'id="id_event_types-error"' in body
