"""Custom fields in a real browser (issue 19): an admin defines a single-select lead field on the settings
page, sets it on a lead through the lead's edit form and reads it in the lead's details; every page passes
axe with zero violations and logs no console error."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import schema_context

from tests.browser.conftest import CHROMIUM, SKIP_REASON, Server, World, orm_allowed
from tests.browser.test_records_flows import accessible, signed_in

playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (make test installs it)"
)
expect = playwright.expect
pytestmark = [pytest.mark.django_db, pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)]


@pytest.fixture(scope="module")
def field_key(world: World, django_db_blocker: Any) -> Iterator[str]:
    """The field this test defines; afterwards its definition goes (the world's clean-up purges the leads)."""
    from tenant_apps.customfields import values
    from tenant_apps.customfields.models import CustomField

    key = f"tier_{world.tag}"
    yield key
    with orm_allowed(django_db_blocker), schema_context("org_acme"):
        CustomField.objects.filter(key=key).delete()
        values.cache_drop()
        values.forget()


def test_an_admin_defines_a_select_field_and_sets_it_on_a_lead(
    server: Server, world: World, field_key: str, new_context
):
    watched = signed_in(new_context, server, world.admin.email)
    page = watched.page
    page.goto(server.url("acme", "/settings/"))
    page.get_by_role("link", name="Custom fields").click()
    expect(page.get_by_role("heading", name="Custom fields", level=1)).to_be_visible()
    accessible(page)
    page.get_by_label("Record type").select_option("lead")
    page.get_by_label("Label", exact=True).fill(f"Tier {world.tag}")
    page.get_by_label("Key", exact=True).fill(field_key)
    page.get_by_label("Type", exact=True).select_option("single_select")
    page.get_by_label("Options", exact=True).fill("Gold\nSilver")
    page.get_by_role("button", name="Add field").click()
    expect(page.locator("#flash")).to_contain_text(f"Field Tier {world.tag} added")
    expect(page.get_by_text(field_key)).to_be_visible()
    accessible(page)

    lead = world.leads["s1"]
    page.goto(server.url("acme", f"/leads/{lead.pk}/"))
    page.locator("summary", has_text="Edit").first.click()
    page.get_by_label(f"Tier {world.tag}", exact=True).select_option(label="Silver")
    page.locator(f'form[action="/leads/{lead.pk}/edit/"]').get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("Saved.")
    # the value, and the in-place editor's button beside it
    expect(page.locator(f'dd[data-custom="{field_key}"]')).to_have_text(re.compile(r"^Silver\s+Edit$"))
    accessible(page)
    assert watched.errors == []
