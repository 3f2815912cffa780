"""The organization served is the Host header's, and only an exact (case-, port- and trailing-dot-insensitive)
match of a known host: forwarded headers and look-alike hosts never switch or reach an organization."""

from __future__ import annotations

import pytest
from django.conf import settings

from shared_apps.organizations.models import Organization
from tests.isolation.support import Credentials, call

ACME = "acme.testserver.local"
GLOBEX = "globex.testserver.local"


def me(host: str, credentials: Credentials | None = None, **headers: str):
    auth = credentials.kinds()["bearer token"] if credentials else {}
    return call(None, "GET", "/api/me/", headers={**auth, "HTTP_HOST": host, **headers})


def test_forwarded_host_headers_are_not_trusted(org, acme: Credentials, globex_admin: Credentials):
    assert settings.USE_X_FORWARDED_HOST is False
    spoofs = {"HTTP_X_FORWARDED_HOST": GLOBEX, "HTTP_FORWARDED": f"host={GLOBEX}", "HTTP_X_HOST": GLOBEX}
    for name, value in spoofs.items():
        served = me(ACME, acme, **{name: value})
        assert served.status_code == 200, (name, served.content)
        assert served.json()["organization"]["slug"] == "acme", name
        # globex's own token, on acme's host dressed up as globex's: still acme's schema, where it is unknown
        assert me(ACME, globex_admin, **{name: value}).status_code == 401, name
    # an unknown host cannot borrow an organization through the header either
    assert me("evil.example.com", acme, HTTP_X_FORWARDED_HOST=ACME).status_code == 404


@pytest.mark.parametrize(
    "host",
    [ACME.upper(), "Acme.TestServer.Local", f"{ACME}.", f"{ACME}:8000", f"{ACME.upper()}.:443"],
)
def test_spellings_of_acme_host_serve_acme_only(host: str, org, acme: Credentials, globex_admin: Credentials):
    served = me(host, acme)
    assert served.status_code == 200, served.content
    assert served.json()["organization"]["slug"] == "acme"
    assert me(host, globex_admin).status_code == 401


@pytest.mark.parametrize(
    "host",
    [
        f"{ACME}.evil.com",  # suffix trick: the organization's host as a prefix of another domain
        f"{ACME}.evil.com:443",
        "acme.evil.com",
        f"globex.{ACME}",  # one level too deep
        "acmetestserver.local",
        "acme-testserver.local",
        "xacme.testserver.local",
        "acme.testserver.localhost",
        "testserver.local.acme",
    ],
)
def test_look_alike_hosts_reach_no_organization(host: str, org, acme: Credentials):
    response = me(host, acme)
    assert (response.status_code, response.json()["code"]) == (404, "organization_not_found")


@pytest.mark.parametrize(
    "host",
    [
        f"{ACME}@{GLOBEX}",
        f"{GLOBEX}#{ACME}",
        f"{ACME}/..",
        f"{ACME}:80:80",
        "acme..testserver.local",
        f" {ACME}",
        "\u0430cme.testserver.local",  # a Cyrillic "a" first
        f"{ACME},{GLOBEX}",
    ],
)
def test_malformed_hosts_are_refused_without_a_server_error(host: str, org, acme: Credentials):
    response = me(host, acme)
    assert 400 <= response.status_code < 500, response.content


def test_the_root_domain_serves_no_organization_with_an_organization_token(org: Organization, acme):
    response = me(settings.BASE_DOMAIN, acme, HTTP_X_FORWARDED_HOST=ACME)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    # nor does an organization's admin pass for an operator there (tokens live in the issuing schema)
    headers = {**acme.kinds()["bearer token"], "HTTP_X_FORWARDED_HOST": ACME}
    assert call(None, "GET", "/api/platform/organizations/", headers=headers).status_code == 401
