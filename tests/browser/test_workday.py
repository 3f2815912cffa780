"""A team's workday in a real browser (web app v2, part B): search type-ahead and its keyboard, a bulk action,
an import's progress reaching "Done" without a reload, the board's disabled columns while dragging, the
onboarding checklist, the phone layout at 390 x 844; axe finds no violation on any page touched and the
console stays clean."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from tests.browser.conftest import ARTIFACTS, CHROMIUM, SKIP_REASON, Server, World, orm_allowed
from tests.conftest import PASSWORD

playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (make test installs it)"
)
axe_module = pytest.importorskip(
    "axe_playwright_python.sync_playwright", reason="axe-playwright-python missing"
)
expect = playwright.expect

pytestmark = [pytest.mark.django_db, pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)]
AXE = axe_module.Axe()
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def day(world: World, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """Leads of this module (named with the world's tag, so the module's cleanup purges them)."""
    from tenant_apps.leads.services import lead_create

    made: dict[str, Any] = {}
    with orm_allowed(django_db_blocker), schema_context("org_acme"):
        for key, name in (
            ("search", "Quillon Searchable"),
            ("bulk1", "Bulky First"),
            ("bulk2", "Bulky Second"),
        ):
            made[key] = lead_create(
                actor=world.manager,
                name=f"{name} {world.tag}",
                company="Workday Ltd",
                value="500.00",
                owner_id=world.manager.pk,
                allow_duplicate=True,
            )
    yield made
    with orm_allowed(django_db_blocker), schema_context("org_acme"):
        from tenant_apps.imports.models import Import

        # the imports this module ran (their leads go with the world's); later tests expect none
        Import.objects.filter(created_by_id=world.manager.pk).delete()


# Chromium's notice that Django's Cross-Origin-Opener-Policy header means nothing over plain http (the test
# server's): about the test host, not the page
HTTP_ONLY_NOTICE = "Cross-Origin-Opener-Policy header has been ignored"


def _counts(message: Any) -> bool:
    return message.type == "error" and HTTP_ONLY_NOTICE not in message.text


def signed_in(new_context: Any, server: Server, email: str, path: str = "/", **context_args: Any) -> Any:
    context_args.setdefault("viewport", {"width": 1400, "height": 900})
    context = new_context(**context_args)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("console", lambda message: page.errors.append(message.text) if _counts(message) else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(server.url("acme", path))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#global-search")).to_be_visible()
    return page


def accessible(page: Any, name: str) -> None:
    """axe finds nothing on the page as it is now, and the console had no error."""
    page.screenshot(path=str(ARTIFACTS / f"workday-{name}.png"), full_page=True)
    results = AXE.run(page)
    assert results.violations_count == 0, results.generate_report()
    assert not page.errors, page.errors


def test_search_type_ahead_with_the_keyboard(server: Server, world: World, day: dict[str, Any], new_context):
    page = signed_in(new_context, server, world.manager.email)
    lead = day["search"]
    page.keyboard.press("Control+k")
    expect(page.locator("#global-q")).to_be_focused()
    page.keyboard.type("Quillon")
    option = page.locator("#global-results [role=option]", has_text=lead.name)
    expect(option).to_be_visible()
    expect(page.locator("#global-q")).to_have_attribute("aria-expanded", "true")
    accessible(page, "search")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#global-results [role=option]").first).to_have_attribute("aria-selected", "true")
    first_url = page.locator("#global-results [role=option]").first.get_attribute("data-url")
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url("acme", first_url))
    # the record opened is a recent item the next time the box is focused empty
    page.locator("#global-q").focus()
    expect(page.locator("#global-results .group")).to_have_text("Recent")
    expect(page.locator("#global-results [role=option]").first).to_have_attribute("data-url", first_url)
    page.keyboard.press("Escape")
    expect(page.locator("#global-results-box")).to_be_hidden()


def test_a_bulk_action_on_the_lead_list(server: Server, world: World, day: dict[str, Any], new_context):
    page = signed_in(new_context, server, world.manager.email, f"/leads/?q=Bulky+{world.tag}")
    first, second = day["bulk1"], day["bulk2"]
    expect(page.locator(f"#row-{first.pk}")).to_be_visible()
    accessible(page, "leads")
    page.get_by_label(f"Select {first.name}").check()
    page.get_by_label(f"Select {second.name}").check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    page.get_by_label("With the selected").select_option("tag")
    page.locator("#bulk-tag").fill("workday")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#flash")).to_contain_text("2 leads tagged.")
    with schema_context("org_acme"):
        from tenant_apps.leads.models import Lead

        assert all("workday" in lead.tags for lead in Lead.objects.filter(pk__in=[first.pk, second.pk]))
    assert not page.errors, page.errors


def test_a_file_chosen_before_the_page_script_ran_is_previewed(
    server: Server, world: World, new_context, tmp_path
):
    """A file chosen while imports.js is still loading (a slow network, or a form the browser restores on
    "back") is previewed once the script runs, not ignored for want of a change event."""
    page = signed_in(new_context, server, world.manager.email, "/imports/")
    held: list[Any] = []
    # the script's response waits until released below
    page.route("**/imports*.js", lambda route: held.append(route))
    page.goto(server.url("acme", "/imports/"), wait_until="commit")
    csv = tmp_path / "early.csv"
    csv.write_text(f"Who,Mail\nEarly {world.tag},early-{world.tag}@ex.test\n")
    page.locator('input[type="file"]').set_input_files(str(csv))
    while not held:
        page.wait_for_timeout(50)
    expect(page.locator("#mapping")).to_be_hidden()
    held[0].continue_()
    expect(page.locator("#mapping")).to_be_visible()
    expect(page.locator("#mapping-summary")).to_contain_text("Choose a column for name")


def test_an_import_reaches_done_without_a_reload(server: Server, world: World, new_context, tmp_path):
    page = signed_in(new_context, server, world.manager.email, "/imports/")
    csv = tmp_path / "people.csv"
    csv.write_text(
        f"Who,Mail\nImp One {world.tag},imp1-{world.tag}@ex.test\n"
        f"Imp Two {world.tag},imp2-{world.tag}@ex.test\n"
    )
    page.locator('input[type="file"]').set_input_files(str(csv))
    # the preview maps the unknown headers once they are chosen
    expect(page.locator("#mapping")).to_be_visible()
    expect(page.locator("#mapping-summary")).to_contain_text("Choose a column for name")
    page.get_by_label("Field for the column Who").select_option("name")
    page.get_by_label("Field for the column Mail").select_option("email")
    expect(page.locator("#mapping-summary")).to_have_text("2 of 2 columns will be imported.")
    accessible(page, "imports-mapping")
    page.get_by_role("button", name="Upload").click()
    row = page.locator(".import").first
    expect(row.locator('[data-field="status"]')).to_have_text("Queued")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    # a worker of its own, on the server's database: this test's connection is inside its transaction
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.browser.settings"}
    env["LEADPULSE_BROWSER_DATABASE"] = str(connection.settings_dict["NAME"])
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    worker = [sys.executable, "manage.py", "rqworker", *settings.RQ_QUEUES, "--burst"]
    subprocess.run(worker, cwd=settings.BASE_DIR, env=env, check=True, timeout=120)
    expect(row.locator('[data-field="status"]')).to_have_text("Done", timeout=10_000)
    expect(row.locator('[data-field="imported"]')).to_have_text("2")
    expect(row.get_by_role("button", name=re.compile("Revert"))).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True
    accessible(page, "imports-done")


def test_dragging_disables_the_columns_the_lead_may_not_go_to(server: Server, world: World, new_context):
    page = signed_in(new_context, server, world.manager.email, "/pipeline/")
    expect(page.locator("#board")).to_have_attribute("data-ready", "true")
    accessible(page, "board")
    lead = world.leads["s1"]  # CONTACTED: may go to QUALIFIED or LOST
    card = page.locator(f"#lead-{lead.pk}")
    # the HTML5 drag events a mouse drag sends, on this card and over the columns
    transfer = page.evaluate_handle("new DataTransfer()")
    card.dispatch_event("dragstart", {"dataTransfer": transfer})
    page.locator('.column[data-stage="NEW"] ol.cards').dispatch_event("dragover", {"dataTransfer": transfer})
    expect(page.locator('.column[data-stage="NEW"]')).to_have_class(re.compile(r"\bblocked\b"))
    expect(page.locator('.column[data-stage="WON"]')).to_have_attribute("aria-disabled", "true")
    expect(page.locator('.column[data-stage="QUALIFIED"]')).to_have_class(re.compile(r"\ballowed\b"))
    expect(page.locator('.column[data-stage="LOST"]')).to_have_class(re.compile(r"\ballowed\b"))
    page.screenshot(path=str(ARTIFACTS / "workday-board-dragging.png"))
    card.dispatch_event("dragend", {"dataTransfer": transfer})
    expect(page.locator("#flash .msg.error")).to_contain_text("cannot move to New")
    expect(page.locator(f'.column[data-stage="CONTACTED"] #lead-{lead.pk}')).to_be_visible()
    expect(page.locator(".column.blocked")).to_have_count(0)
    # the columns scroll on their own under sticky headers; the board fits the window
    overflow = page.locator('.column[data-stage="NEW"]').evaluate("c => getComputedStyle(c).overflowY")
    assert overflow == "auto"
    board_bottom = page.locator("#board").evaluate("b => b.getBoundingClientRect().bottom")
    assert board_bottom <= 900


@pytest.fixture(scope="module")
def fresh_slug(world: World, django_db_blocker: Any) -> str:
    """A new organization with its first admin only (committed; removed with the world's)."""
    from shared_apps.organizations.services import organization_provision

    slug = f"onb-{world.tag}"
    with orm_allowed(django_db_blocker):
        organization_provision(
            name=f"Onboarding {world.tag}",
            slug=slug,
            admin_email=f"first@{slug}.example",
            admin_password="a-long-passphrase-2026",
        )
    world.created_organizations.append(slug)
    return slug


def test_the_onboarding_checklist_ticks_itself(server: Server, world: World, fresh_slug: str, new_context):
    slug = fresh_slug
    context = new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server.url(slug, "/"))
    page.get_by_label("Email").fill(f"first@{slug}.example")
    page.get_by_label("Password").fill("a-long-passphrase-2026")
    page.get_by_role("button", name="Sign in").click()
    checklist = page.locator("#getting-started")
    expect(checklist).to_contain_text("0 of 3 done")
    expect(page.locator("#step-import")).to_have_attribute("data-done", "false")
    accessible_without_console(page, "onboarding")
    page.get_by_role("button", name="Load sample data").click(timeout=60_000)  # seeding takes a while
    expect(page.locator("#flash")).to_contain_text("40 sample leads loaded", timeout=60_000)
    expect(page.locator(".card").first).to_be_visible()  # on the board
    page.goto(server.url(slug, "/"))
    expect(page.locator("#step-import")).to_have_attribute("data-done", "true")
    expect(page.locator("#step-pipeline")).to_have_attribute("data-done", "true")
    expect(checklist).to_contain_text("2 of 3 done")


def accessible_without_console(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"workday-{name}.png"), full_page=True)
    results = AXE.run(page)
    assert results.violations_count == 0, results.generate_report()


def test_the_phone_layout(server: Server, world: World, day: dict[str, Any], new_context):
    page = signed_in(new_context, server, world.manager.email, "/leads/", **PHONE)
    # the filter panel is folded: the first lead is above the fold
    expect(page.locator("#filter-panel")).not_to_have_attribute("open", "")
    first = page.locator("#lead-rows .row").first
    expect(first).to_be_visible()
    assert first.evaluate("row => row.getBoundingClientRect().top") < 844
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    accessible(page, "phone-leads")
    # every button and link-button is at least 44 px tall
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, .button, summary, select')]
            .filter(el => el.offsetParent !== null)
            .map(el => [el.textContent.trim().slice(0, 30) || el.id, el.getBoundingClientRect().height])
            .filter(([, height]) => height < 44)"""
    )
    assert small == [], small
    # the menu is a button: nothing of it is off-screen when opened
    expect(page.locator("#main-nav")).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(page.locator("#main-nav")).to_be_visible()
    offscreen = page.evaluate(
        """() => [...document.querySelectorAll('#main-nav a, #main-nav button')]
            .filter(el => { const r = el.getBoundingClientRect(); return r.right > 390 || r.left < 0; })
            .map(el => el.textContent.trim())"""
    )
    assert offscreen == [], offscreen
    accessible(page, "phone-menu")
    # search works on the phone too
    page.locator("#global-q").fill("Quillon")
    expect(page.locator("#global-results [role=option]", has_text=day["search"].name)).to_be_visible()
    # the lead page and its quick actions
    page.goto(server.url("acme", f"/leads/{day['search'].pk}/"))
    expect(page.locator("h1")).to_contain_text(day["search"].name)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    accessible(page, "phone-lead")
    # chart labels stay at 12 px or more
    page.goto(server.url("acme", "/"))
    sizes = page.evaluate(
        """() => [...document.querySelectorAll('.chart svg text')].map(t =>
            parseFloat(getComputedStyle(t).fontSize)
            * (t.ownerSVGElement.getBoundingClientRect().width / t.ownerSVGElement.viewBox.baseVal.width))"""
    )
    assert sizes and min(sizes) >= 12, min(sizes)
    accessible(page, "phone-dashboard")


def test_pages_of_this_part_have_no_axe_violations(server: Server, world: World, new_context):
    page = signed_in(new_context, server, world.admin.email)
    for name, path in (
        ("dashboard", "/"),
        ("trash", "/leads/trash/"),
        ("tasks", "/tasks/?mine=0"),
        ("pipeline-filtered", f"/pipeline/?owner={world.manager.pk}"),
    ):
        page.goto(server.url("acme", path))
        expect(page.locator("h1")).to_be_visible()
        accessible(page, name)
    page.locator("#bell").click()
    expect(page.locator("#bell-panel")).to_be_visible()
    expect(page.locator("#bell-list li").first).to_be_visible()
    accessible(page, "notifications")
