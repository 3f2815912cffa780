"""Unknown hosts and suspended organizations in a browser (issue 20): an HTML page for a page load, JSON under
/api/ (by path, whatever the client accepts) and for clients that do not ask for HTML; a favicon on every
host, known or not."""

from __future__ import annotations

from django.test import Client

from shared_apps.organizations import services
from tests.conftest import host_of

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_an_unknown_host_is_a_page_for_a_browser_and_json_for_the_api(db):
    client = Client(HTTP_HOST="nobody.testserver.local")
    page = client.get("/leads/", HTTP_ACCEPT=BROWSER)
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    body = page.content.decode()
    assert "<title>No organization here" in body and "nobody.testserver.local" in body
    assert '<html lang="en">' in body
    api = client.get("/api/me/", HTTP_ACCEPT=BROWSER)
    assert (api.status_code, api.json()["code"]) == (404, "organization_not_found")
    script = client.get("/leads/", HTTP_ACCEPT="application/json")
    assert script.json()["code"] == "organization_not_found"


def test_a_suspended_organization_is_a_page_for_a_browser(db, org, public):
    services.organization_set_status(organization=org, status="suspended")
    try:
        client = Client(HTTP_HOST=host_of(org))
        page = client.get("/", HTTP_ACCEPT=BROWSER)
        assert page.status_code == 403 and page["Content-Type"].startswith("text/html")
        assert "This organization is suspended" in page.content.decode()
        assert org.name in page.content.decode()
        api = client.get("/api/leads/", HTTP_ACCEPT=BROWSER)
        assert (api.status_code, api.json()["code"]) == (403, "organization_suspended")
    finally:
        services.organization_set_status(organization=org, status="active")


def test_every_host_serves_a_favicon(db, org):
    for host in (host_of(org), "nobody.testserver.local", "testserver.local"):
        icon = Client(HTTP_HOST=host).get("/favicon.ico")
        assert icon.status_code == 200, host
        assert icon["Content-Type"] == "image/png" and icon.content.startswith(b"\x89PNG")
