"""The SSO tests' identity provider: tests/tenant_apps/sso/provider/ (django-oauth-toolkit with OpenID
Connect) started once per session as a subprocess on a free 127.0.0.1 port with a fresh RSA key, and a
browser's side of the sign-in (the provider's sign-in form and consent page) driven with requests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from tenant_apps.sso import services
from tenant_apps.sso.models import SsoConfig

ROOT = Path(__file__).resolve().parents[3]
PROVIDER_PASSWORD = "provider-pass-2026"
CLIENT_ID = "leadpulse-test"
CLIENT_SECRET = "leadpulse-test-secret"
ACCOUNTS = [
    "alice@acme-corp.test",  # joins acme on first sign-in (acme-corp.test is allowed)
    "outsider@elsewhere.test",  # a domain acme does not allow
    "rogue+mallory@acme-corp.test",  # ID tokens signed by an unpublished key
    "unverified+eve@acme-corp.test",  # email_verified is false
]
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}/o"
    callbacks = " ".join(f"http://{slug}.{settings.BASE_DOMAIN}/sso/callback/" for slug in ("acme", "globex"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OIDC_PROVIDER_DB": str(tmp_path_factory.mktemp("oidc") / "provider.sqlite3"),
        "OIDC_PROVIDER_KEY": pem,
        "OIDC_PROVIDER_ISSUER": issuer,
        "OIDC_PROVIDER_PORT": str(port),
        "OIDC_PROVIDER_REDIRECT_URIS": callbacks,
        "OIDC_PROVIDER_ACCOUNTS": json.dumps(ACCOUNTS),
        "OIDC_PROVIDER_PASSWORD": PROVIDER_PASSWORD,
        "OIDC_PROVIDER_CLIENT_ID": CLIENT_ID,
        "OIDC_PROVIDER_CLIENT_SECRET": CLIENT_SECRET,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = tmp_path_factory.mktemp("oidc-log") / "provider.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.tenant_apps.sso.provider.serve"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the test provider exited: {log.read_text()[-2000:]}")
            try:
                if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test provider did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield Provider(issuer=issuer)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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


class _Inputs(HTMLParser):
    """The named inputs of the page's first form, and its action."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.action: str | None = None
        self._forms = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self._forms += 1
            if self._forms == 1:
                self.action = values.get("action")
        elif tag == "input" and self._forms == 1 and values.get("name"):
            if values.get("type") in ("submit", "checkbox"):
                return
            self.fields[str(values["name"])] = values.get("value") or ""


def _form(response: requests.Response) -> tuple[str, dict[str, str]]:
    parser = _Inputs()
    parser.feed(response.text)
    return urljoin(response.url, parser.action or response.url), parser.fields


def browser_sign_in(authorize_url: str, username: str, *, consent: bool = True) -> str:
    """What a person does at the provider: open the authorization URL, sign in, consent. Returns the URL the
    provider sends the browser back to (our callback with code and state), not followed."""
    browser = requests.Session()
    response = browser.get(authorize_url, allow_redirects=True, timeout=10)
    action, fields = _form(response)  # the provider's sign-in form
    fields.update(username=username, password=PROVIDER_PASSWORD)
    response = browser.post(action, data=fields, allow_redirects=True, timeout=10)
    assert response.status_code == 200, response.text[:500]
    action, fields = _form(response)  # the consent page
    if consent:
        fields["allow"] = "Authorize"
    response = browser.post(action, data=fields, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
