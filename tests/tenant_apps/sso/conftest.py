"""The SSO tests' identity provider: tests/tenant_apps/sso/provider/ (django-oauth-toolkit with OpenID
Connect) started once per session as a subprocess on a free 127.0.0.1 port with a fresh RSA key, and a
browser's side of the sign-in (the provider's sign-in form and consent page) driven with requests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from tenant_apps.sso import services
from tenant_apps.sso.models import SsoConfig
from tests.tenant_apps.sequences.smtp import _smtp_server, smtp  # noqa: F401 (fixtures: the reset emails)
from tests.tenant_apps.sso.provider import process
from tests.tenant_apps.sso.provider.browser import PROVIDER_PASSWORD, browser_sign_in

CLIENT_ID = "leadpulse-test"
CLIENT_SECRET = "leadpulse-test-secret"
ACCOUNTS = [
    "alice@acme-corp.test",  # joins acme on first sign-in (acme-corp.test is allowed)
    "outsider@elsewhere.test",  # a domain acme does not allow
    "rogue+mallory@acme-corp.test",  # ID tokens signed by an unpublished key
    "unverified+eve@acme-corp.test",  # email_verified is false
]


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    running = process.start(
        workdir=tmp_path_factory.mktemp("oidc"),
        redirect_uris=[f"http://{slug}.{settings.BASE_DOMAIN}/sso/callback/" for slug in ("acme", "globex")],
        accounts=ACCOUNTS,
        password=PROVIDER_PASSWORD,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    try:
        yield Provider(issuer=running.issuer)
    finally:
        running.stop()


def configure_sso(organization: Organization, provider: Provider, **changes: Any) -> SsoConfig:
    """Set the organization's SSO up through the service (discovery read from the running provider)."""
    values: dict[str, Any] = {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "allowed_domains": ["acme-corp.test"],
        "default_role": "viewer",
        "enabled": True,
        **changes,
    }
    with schema_context(organization.schema_name):
        config, _ = services.sso_config_update(changes=values, signed_in_with_sso=True)
    return config


def web_client(organization: Organization) -> Client:
    return Client(HTTP_HOST=f"{organization.slug}.{settings.BASE_DOMAIN}")


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


__all__ = ["browser_sign_in", "configure_sso", "local_path", "web_client"]
