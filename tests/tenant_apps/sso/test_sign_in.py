"""Signing in through a real OpenID Connect provider (conftest.oidc_provider): the whole browser round trip,
and each check of the callback failing on its own."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role, User
from tenant_apps.sso.models import SsoIdentity
from tests.tenant_apps.sso.conftest import browser_sign_in, configure_sso, local_path, web_client


def _start(client, next_url: str = "/leads/") -> str:
    response = client.get(f"/sso/login/?{urlencode({'next': next_url})}")
    assert response.status_code == 302, response.content
    return response["Location"]


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _signed_in_as(client) -> str | None:
    response = client.get("/api/me/")
    return response.json()["email"] if response.status_code == 200 else None


def test_a_new_person_of_an_allowed_domain_joins_with_the_default_role(org, oidc_provider):
    configure_sso(org, oidc_provider, default_role=Role.VIEWER)
    client = web_client(org)
    authorize = _start(client)
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"] and query["nonce"]
    assert query["state"] and query["client_id"] == [oidc_provider.client_id]

    callback = browser_sign_in(authorize, "alice@acme-corp.test")
    response = client.get(local_path(callback))

    assert response.status_code == 302 and response["Location"] == "/leads/"
    assert _signed_in_as(client) == "alice@acme-corp.test"
    with schema_context(org.schema_name):
        alice = User.objects.get(email="alice@acme-corp.test")
        assert alice.role == Role.VIEWER and not alice.has_usable_password()
        assert SsoIdentity.objects.get(user=alice).issuer == oidc_provider.issuer
        assert AuditEvent.objects.filter(action="member.joined_through_sso", actor_id=alice.pk).exists()
