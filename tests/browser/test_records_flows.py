"""Working on records in a real browser (issue 20): create an account, a contact, an opportunity and a task;
convert a lead; log a call and send an email from the composer; edit a field in place; create and revoke an
API key. Every new page passes axe with zero violations, and no page logs a console error."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django_tenants.utils import schema_context

from shared_apps.core.timeline import timeline_switch
from tests.browser.conftest import CHROMIUM, SKIP_REASON, Server, Watched, World, orm_allowed
from tests.conftest import PASSWORD

playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (make test installs it)"
)
expect = playwright.expect
pytestmark = [pytest.mark.django_db, pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)]


@pytest.fixture(scope="module")
def made(world: World, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """An account to edit in place; afterwards, everything these tests made (named with the world's tag) goes,
    before the world's own clean-up removes its leads and members (whose activities hold them)."""
    from tenant_apps.accounts.services import account_create

    with orm_allowed(django_db_blocker), schema_context("org_acme"):
        account = account_create(actor=world.admin, name=f"Inline Co {world.tag}", industry="Retail")
    yield {"account": account}
    with orm_allowed(django_db_blocker), schema_context("org_acme"):
        _remove_what_was_made(world)


def _remove_what_was_made(world: World) -> None:
    from shared_apps.users.models import ApiKey
    from tenant_apps.accounts.models import Account
    from tenant_apps.contacts.models import Contact
    from tenant_apps.opportunities.models import Opportunity

    with transaction.atomic(), timeline_switch("purge"):
        Opportunity.objects.filter(name__endswith=world.tag).delete()
        Contact.objects.filter(name__endswith=world.tag).delete()
        Account.objects.filter(name__endswith=world.tag).delete()
        ApiKey.objects.filter(created_by=world.admin).delete()


def signed_in(new_context: Any, server: Server, email: str) -> Watched:
    context = new_context(viewport={"width": 1280, "height": 900})
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(server.url("acme", "/sign-in/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return watched


def api_status(server: Server, key: str) -> int:
    """GET /api/leads/ with the key alone (no session), from outside the browser."""
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        host = f"acme.{settings.BASE_DOMAIN}:{server.port}"
        client.request("GET", "/api/leads/", headers={"Host": host, "Authorization": f"Bearer {key}"})
        return client.getresponse().status
    finally:
        client.close()


def accessible(page: Any) -> None:
    """axe-core on the page as it stands: no violations at all."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"


def test_create_an_account_a_contact_an_opportunity_and_a_task(
    server: Server, world: World, made: dict[str, Any], new_context
):
    watched = signed_in(new_context, server, world.admin.email)
    page, tag = watched.page, world.tag
    page.goto(server.url("acme", "/accounts/"))
    page.get_by_role("link", name="New account").click()
    expect(page.get_by_role("heading", name="New account")).to_be_visible()
    accessible(page)
    page.get_by_label("Name", exact=True).fill(f"Browser Co {tag}")
    page.get_by_label("Domain", exact=True).fill("not a domain")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#id_domain-error")).to_have_text("Enter a domain such as acme.com.")
    accessible(page)  # the page with its error shown
    page.get_by_label("Domain", exact=True).fill("browser-co.example")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name=f"Browser Co {tag}")).to_be_visible()
    expect(page.locator("#flash")).to_contain_text(f"Account Browser Co {tag} created.")
    accessible(page)

    page.get_by_role("link", name="New contact here").click()
    accessible(page)
    page.get_by_label("Name", exact=True).fill(f"Cora Contact {tag}")
    page.get_by_label("Email", exact=True).fill("cora@browser-co.example")
    page.get_by_role("button", name="Create contact").click()
    expect(page.get_by_role("heading", name=f"Cora Contact {tag}")).to_be_visible()
    expect(page.locator(".fields")).to_contain_text(f"Browser Co {tag}")
    accessible(page)

    page.get_by_role("link", name=f"New opportunity at Browser Co {tag}").click()
    accessible(page)
    page.get_by_label("Name", exact=True).fill(f"Browser deal {tag}")
    page.get_by_label("Stage", exact=True).select_option(label="Proposal")
    page.get_by_label("Amount", exact=True).fill("12500")
    page.get_by_role("button", name="Create opportunity").click()
    expect(page.get_by_role("heading", name=f"Browser deal {tag}")).to_be_visible()
    expect(page.locator(".fields")).to_contain_text("$12,500")
    accessible(page)

    page.get_by_role("link", name="New task").click()
    expect(page.get_by_role("heading", name="New task")).to_be_visible()
    accessible(page)
    page.get_by_label("Title", exact=True).fill(f"Send the quote {tag}")
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("heading", name=f"Browser deal {tag}")).to_be_visible()
    expect(page.locator(".tasks")).to_contain_text(f"Send the quote {tag}")
    # the refused form's 400 is the one console line (the browser logs every failed request)
    assert [error for error in watched.errors if "status of 400" not in error] == []


def test_convert_a_lead(server: Server, world: World, made: dict[str, Any], new_context):
    watched = signed_in(new_context, server, world.admin.email)
    page, lead, tag = watched.page, world.leads["s2"], world.tag  # a qualified lead
    page.goto(server.url("acme", f"/leads/{lead.pk}/"))
    accessible(page)
    page.get_by_role("link", name="Convert to account and contact").click()
    expect(page.get_by_role("heading", name=f"Convert {lead.name}")).to_be_visible()
    accessible(page)
    page.get_by_label("Or a new account named", exact=True).fill(f"Umbrella {tag}")
    page.get_by_label("Create an opportunity", exact=True).check()
    page.get_by_label("Opportunity name", exact=True).fill(f"Umbrella renewal {tag}")
    page.get_by_role("button", name="Convert").click()
    expect(page.get_by_role("heading", name=f"Umbrella {tag}")).to_be_visible()
    expect(page.locator("#flash")).to_contain_text(f"{lead.name} converted")
    expect(page.get_by_role("link", name=lead.name)).to_be_visible()  # the contact, at the account
    expect(page.get_by_role("link", name=f"Umbrella renewal {tag}")).to_be_visible()
    page.goto(server.url("acme", f"/leads/{lead.pk}/"))
    expect(page.locator("p.converted")).to_contain_text("Converted")
    assert watched.errors == []


def test_compose_a_call_and_send_an_email(server: Server, world: World, made: dict[str, Any], new_context):
    watched = signed_in(new_context, server, world.admin.email)
    page, lead = watched.page, world.leads["s3"]
    page.goto(server.url("acme", f"/leads/{lead.pk}/"))
    composer = page.locator("[data-composer]")
    expect(composer.get_by_role("tab", name="Log activity")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#compose-send")).to_be_hidden()
    accessible(page)
    log = page.locator("#compose-log")
    log.get_by_label("Call", exact=True).check()
    log.get_by_label("Subject", exact=True).fill("Discussed the rollout plan")
    log.get_by_label("Details", exact=True).fill("They want to start in March.")
    log.get_by_role("button", name="Log").click()
    expect(page.locator("#flash")).to_contain_text("Call logged.")
    expect(page.locator(".timeline")).to_contain_text("Discussed the rollout plan")

    page.locator("[data-composer]").get_by_role("tab", name="Send email").click()
    send = page.locator("#compose-send")
    expect(send).to_be_visible()
    accessible(page)
    send.get_by_label("To", exact=True).fill("pat@hooli.example")
    send.get_by_label("Subject", exact=True).fill("Your proposal")
    send.get_by_label("Message", exact=True).fill("Hi Pat, here is the proposal we discussed.")
    send.get_by_role("button", name="Send").click()
    expect(page.locator("#flash")).to_contain_text("Email sent to pat@hooli.example.")
    expect(page.locator(".timeline")).to_contain_text("Your proposal")
    assert watched.errors == []


def test_edit_a_field_in_place(server: Server, world: World, made: dict[str, Any], new_context):
    watched = signed_in(new_context, server, world.admin.email)
    page, account = watched.page, made["account"]
    page.goto(server.url("acme", f"/accounts/{account.pk}/"))
    industry = page.locator('dd[data-inline-field="industry"]')
    expect(industry).to_contain_text("Retail")
    industry.get_by_role("button", name="Edit Industry").click()
    field = industry.get_by_label("Industry", exact=True)
    expect(field).to_be_focused()
    accessible(page)
    field.fill("Banking")
    industry.get_by_role("button", name="Save").click()
    expect(industry).to_contain_text("Banking")
    expect(page.locator("#flash")).to_contain_text("Saved.")
    domain = page.locator('dd[data-inline-field="domain"]')
    domain.get_by_role("button", name="Edit Domain").click()
    domain.get_by_label("Domain", exact=True).fill("not a domain")
    domain.get_by_role("button", name="Save").click()
    expect(domain.get_by_role("alert")).to_have_text("Enter a domain such as acme.com.")
    page.reload()
    expect(page.locator('dd[data-inline-field="industry"]')).to_contain_text("Banking")
    # the refused save's 400 is the one console line (the browser logs every failed request)
    assert [error for error in watched.errors if "status of 400" not in error] == []


def test_settings_create_and_revoke_an_api_key(
    server: Server, world: World, made: dict[str, Any], new_context
):
    watched = signed_in(new_context, server, world.admin.email)
    page = watched.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    accessible(page)
    page.get_by_role("link", name="API keys").click()
    accessible(page)
    page.get_by_label("Name", exact=True).fill(f"Zapier {world.tag}")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("API key", exact=True)
    expect(secret).to_have_value(re.compile(r"^lpk_[0-9a-f]{8}_"))
    raw = secret.input_value()
    accessible(page)
    assert api_status(server, raw) == 200
    page.get_by_role("button", name=f"Revoke Zapier {world.tag}").click()
    expect(page.locator("#flash")).to_contain_text(f"API key Zapier {world.tag} revoked.")
    expect(page.get_by_role("row", name=re.compile(f"Zapier {world.tag}"))).to_contain_text("Revoked")
    assert api_status(server, raw) == 401
    for path in ("/settings/webhooks/",):
        page.goto(server.url("acme", path))
        accessible(page)
    assert watched.errors == []


def test_an_unknown_host_is_a_page_with_a_favicon(server: Server, world: World, new_context):
    page = new_context().new_page()
    watched = Watched(page)
    response = page.goto(server.url("nobody", "/"))
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="No organization here")).to_be_visible()
    accessible(page)
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        host = f"nobody.{settings.BASE_DOMAIN}:{server.port}"
        client.request("GET", "/favicon.ico", headers={"Host": host})
        icon = client.getresponse()
        assert icon.status == 200 and icon.getheader("Content-Type") == "image/png"
    finally:
        client.close()
    # a 404 answer logs itself in the console; nothing else may
    assert all("404" in error for error in watched.errors), watched.errors
