"""The web app in a real browser: sign-in, the Kanban (drag, refusal, keyboard menu, live updates between two
browsers), the mobile lead list, the dashboard's charts and the operator console."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django_tenants.utils import schema_context

from tests.browser.conftest import ARTIFACTS, CHROMIUM, SKIP_REASON, Server, World, http_status
from tests.conftest import PASSWORD

playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (make test installs it)"
)
expect = playwright.expect

# The rows these tests read are committed by the module's fixtures; the mark also makes pytest-django create
# the test database when the browser tests run alone.
pytestmark = [pytest.mark.django_db, pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)]


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(new_context: Any, server: Server, email: str, **context_args: Any) -> Any:
    context_args.setdefault("viewport", {"width": 1920, "height": 1000})  # the whole board, no scrolling
    context = new_context(**context_args)
    page = context.new_page()
    page.goto(server.url("acme", "/pipeline/"))
    expect(page).to_have_url(re.compile(r"/sign-in/\?next=/pipeline/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url("acme", "/pipeline/"))
    expect(page.locator("#board")).to_have_attribute("data-ready", "true")  # its script is running
    return page


def card(page: Any, lead: Any) -> Any:
    return page.locator(f"#lead-{lead.pk}")


def in_column(page: Any, stage: str, lead: Any) -> Any:
    return page.locator(f'.column[data-stage="{stage}"] #lead-{lead.pk}')


def stage_in_db(lead: Any) -> str:
    from tenant_apps.leads.models import Lead

    with schema_context("org_acme"):
        return Lead.objects.get(pk=lead.pk).stage


def test_sign_in_fails_then_succeeds(server: Server, world: World, new_context):
    context = new_context()
    page = context.new_page()
    page.goto(server.url("acme", "/"))
    page.get_by_label("Email").fill(world.manager.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Email or password is wrong")
    shot(page, "sign-in")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_dragging_a_card_to_an_allowed_column_moves_the_lead(server: Server, world: World, new_context):
    page = sign_in(new_context, server, world.manager.email)
    lead = world.leads["drag-valid"]
    expect(in_column(page, "NEW", lead)).to_be_visible()
    card(page, lead).locator(".sub").drag_to(page.locator('.column[data-stage="CONTACTED"] ol.cards'))
    expect(page.locator("#flash")).to_contain_text(f"{lead.name} moved to Contacted")
    expect(in_column(page, "CONTACTED", lead)).to_be_visible()
    shot(page, "pipeline")
    assert stage_in_db(lead) == "CONTACTED"
    page.reload()
    expect(in_column(page, "CONTACTED", lead)).to_be_visible()  # persisted
    # the column's figures follow the server
    expect(page.locator('.column[data-stage="CONTACTED"] [data-count]')).to_have_text("2")


def test_dragging_a_card_to_a_forbidden_column_snaps_back_with_the_reason(
    server: Server, world: World, new_context
):
    page = sign_in(new_context, server, world.manager.email)
    lead = world.leads["drag-invalid"]
    card(page, lead).locator(".sub").drag_to(page.locator('.column[data-stage="WON"] ol.cards'))
    # the state machine's refusal, before any request: the column was disabled while the card was dragged
    expect(page.locator("#flash .msg.error")).to_have_text(
        "A lead in New cannot move to Won; allowed: Contacted, Lost."
    )
    expect(in_column(page, "NEW", lead)).to_be_visible()
    expect(in_column(page, "WON", lead)).to_have_count(0)
    assert stage_in_db(lead) == "NEW"


def test_the_move_to_menu_works_from_the_keyboard(server: Server, world: World, new_context):
    page = sign_in(new_context, server, world.manager.email)
    lead = world.leads["keyboard"]
    menu = card(page, lead).get_by_label("Move to")
    menu.focus()
    menu.select_option("LOST")
    page.keyboard.press("Tab")  # to the Move button
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text(f"{lead.name} moved to Lost.")
    expect(in_column(page, "LOST", lead)).to_be_visible()
    assert stage_in_db(lead) == "LOST"
    # its menu now offers the moves allowed from LOST
    expect(card(page, lead).locator("select option")).to_have_text(["New"])


def test_a_move_in_one_browser_appears_in_another_within_two_seconds(
    server: Server, world: World, new_context
):
    # the stream exists and is for members only: anonymous clients are refused before it starts
    assert http_status(server.port, "acme.testserver.local", "/api/pipeline/stream") == 401
    watcher = sign_in(new_context, server, world.admin.email)
    expect(watcher.locator("#live")).to_have_attribute("data-state", "on")
    mover = sign_in(new_context, server, world.manager.email)
    lead = world.leads["live"]
    expect(in_column(watcher, "NEW", lead)).to_be_visible()
    started = time.monotonic()
    menu = card(mover, lead).get_by_label("Move to")
    menu.select_option("CONTACTED")
    card(mover, lead).get_by_role("button", name="Move").click()
    expect(in_column(watcher, "CONTACTED", lead)).to_be_visible(timeout=2_000)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    expect(watcher.locator('.column[data-stage="CONTACTED"] [data-count]')).not_to_have_text("1")


def test_the_lead_list_at_375_pixels_with_a_quick_action(server: Server, world: World, new_context):
    page = sign_in(
        new_context,
        server,
        world.manager.email,
        viewport={"width": 375, "height": 812},
        is_mobile=True,
        has_touch=True,
    )
    lead = world.leads["mobile"]
    page.goto(server.url("acme", f"/leads/?q={world.tag}"))
    row = page.locator(f"#row-{lead.pk}")
    expect(row).to_be_visible()
    # nothing wider than the phone: no sideways scrolling of the page
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "leads-mobile")
    row.locator("summary", has_text="Log call").click()
    row.get_by_label("What was said").fill("Asked for a callback on Friday")
    row.get_by_role("button", name="Log call").click()
    expect(page.locator("#flash")).to_contain_text("Call logged.")
    row = page.locator(f"#row-{lead.pk}")
    row.get_by_role("button", name=f"Move {lead.name} to Contacted").click()
    expect(page.locator("#flash")).to_contain_text(f"{lead.name} moved to Contacted.")
    expect(page.locator(f"#row-{lead.pk} .badge")).to_have_text("Contacted")
    page.goto(server.url("acme", f"/leads/{lead.pk}/"))
    expect(page.locator(".timeline")).to_contain_text("Asked for a callback on Friday")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "lead-mobile")


def test_the_dashboard_renders_its_charts(server: Server, world: World, new_context):
    page = sign_in(new_context, server, world.manager.email, viewport={"width": 1280, "height": 900})
    page.goto(server.url("acme", "/"))
    for chart in ("chart-pipeline", "chart-conversion", "chart-trend"):
        expect(page.locator(f"#{chart} svg")).to_be_visible()
    bars = page.locator("#chart-pipeline .bar rect")
    expect(bars).to_have_count(7)
    widths = [float(bars.nth(index).get_attribute("width") or 0) for index in range(7)]
    assert max(widths) > 0 and len({width for width in widths}) > 2, widths
    expect(page.locator("#chart-trend polyline")).to_have_count(2)
    expect(page.get_by_text(f"Send the contract {world.tag}")).to_be_visible()
    shot(page, "dashboard")
    page.goto(server.url("acme", f"/leads/{world.leads['s3'].pk}/"))
    expect(page.locator(".timeline")).to_contain_text("Walked through the proposal")
    shot(page, "lead")
    for name, path in (("leads", "/leads/"), ("tasks", "/tasks/?mine=0"), ("imports", "/imports/")):
        page.goto(server.url("acme", path))
        expect(page.locator("h1")).to_be_visible()
        shot(page, name)


def test_the_operator_console_provisions_an_organization(server: Server, world: World, new_context):
    assert world.operator is not None
    context = new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server.url(None, "/"))
    page.get_by_label("Email").fill(world.operator.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_attribute("href", "/admin/")
    slug = f"brw-{world.tag}"
    world.created_organizations.append(slug)  # removed with the rest when the session ends
    form = page.locator("#provision")  # the list's filters above it have a Plan too
    form.get_by_label("Name", exact=True).fill(f"Browser Test {world.tag}")
    form.get_by_label("Slug").fill(slug)
    form.get_by_label("Plan").select_option("team")
    form.get_by_label("First admin's email").fill(f"boss@{slug}.example")
    form.get_by_label("First admin's password").fill("a-long-passphrase-2026")
    form.get_by_role("button", name="Provision").click()
    expect(page.locator("#flash")).to_contain_text(f"is ready at {slug}.testserver.local")
    row = page.locator(f"#org-{slug}")
    expect(row).to_contain_text("Team")
    shot(page, "console")
    row.get_by_role("button", name=f"Suspend Browser Test {world.tag}").click()
    expect(page.locator(f"#org-{slug} .status")).to_have_text("Suspended")
    page.get_by_role("button", name=f"Reactivate Browser Test {world.tag}").click()
    expect(page.locator(f"#org-{slug} .status")).to_have_text("Active")
    # the new organization's first admin signs in on its own host
    member = new_context().new_page()
    member.goto(server.url(slug, "/"))
    member.get_by_label("Email").fill(f"boss@{slug}.example")
    member.get_by_label("Password").fill("a-long-passphrase-2026")
    member.get_by_role("button", name="Sign in").click()
    expect(member.get_by_role("heading", name="Dashboard")).to_be_visible()
