"""The operator console in a real browser: the organization list searched, filtered and sorted, one
organization's page, the platform dashboard, a bulk action through its confirmation step, and a support
session opened. One browser context for the module, signed in once; no sleeps (Playwright's expectations
wait)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.organizations.models import Domain, Organization, OrganizationUsage, SupportSession
from shared_apps.users.models import SUPPORT_EMAIL_SUFFIX, User
from tests.browser.conftest import CHROMIUM, SKIP_REASON, Server, World, orm_allowed
from tests.conftest import PASSWORD

playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (make test installs it)"
)
expect = playwright.expect

pytestmark = [pytest.mark.django_db, pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)]


@pytest.fixture(scope="module")
def fleet(world: World, django_db_blocker: Any) -> Iterator[dict[str, Organization]]:
    """Three organizations' public rows (no schemas: the console never opens one), committed for the
    server, removed when the module ends."""
    tag = world.tag
    now = timezone.now()
    specs = [
        ("alpha", "Alpha Anvils", "active", 7000, 3),
        ("bravo", "Bravo Bakery", "active", 40, 0),
        ("charlie", "Charlie Chairs", "suspended", 900, 1),
    ]
    made: dict[str, Organization] = {}
    with orm_allowed(django_db_blocker):
        for key, name, status, requests, failed in specs:
            slug = f"cw{tag}-{key}"
            organization = Organization.objects.create(
                name=f"{name} {tag}",
                slug=slug,
                schema_name=f"org_{slug.replace('-', '_')}",
                status=status,
                admin_emails=f"owner@{key}-{tag}.example",
            )
            Domain.objects.create(domain=f"{slug}.testserver.local", tenant=organization, is_primary=True)
            OrganizationUsage.objects.create(
                organization=organization,
                collected_at=now,
                api_requests_30d=requests,
                failed_jobs=failed,
                members=4,
                leads=120,
                last_active_at=now,
            )
            made[key] = organization
    yield made
    # after the module's tests (outside their rolled-back transactions): these rows, and the support session
    # a test opens in acme with the support member made for it
    with orm_allowed(django_db_blocker):
        assert world.operator is not None
        sessions = SupportSession.objects.filter(operator_email=world.operator.email)
        members = list(sessions.values_list("member_id", flat=True))
        sessions.delete()
        with schema_context("org_acme"):
            User.objects.filter(pk__in=members, email__endswith=SUPPORT_EMAIL_SUFFIX).delete()
        for organization in made.values():
            OrganizationUsage.objects.filter(organization=organization).delete()
            Domain.objects.filter(tenant=organization).delete()
            organization.delete(force_drop=False)


@pytest.fixture(scope="module")
def page(browser: Any, server: Server, world: World, fleet: dict) -> Iterator[Any]:
    """The module's one browser context, signed in to the console as the operator."""
    assert world.operator is not None
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.goto(server.url(None, "/"))
    tab.get_by_label("Email").fill(world.operator.email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name="Organizations")).to_be_visible()
    yield tab
    context.close()


def slugs_listed(page: Any) -> list[str]:
    return [row.get_attribute("id")[4:] for row in page.locator("tbody tr[id^=org-]").all()]


def test_the_list_is_searched_filtered_and_sorted(page: Any, server: Server, world: World):
    tag = world.tag
    page.goto(server.url(None, "/"))
    page.get_by_label("Search", exact=True).fill(f"cw{tag}")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr[id^=org-]")).to_have_count(3)
    # an admin's email finds its organization
    page.get_by_label("Search", exact=True).fill(f"owner@bravo-{tag}")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr[id^=org-]")).to_have_count(1)
    expect(page.locator(f"#org-cw{tag}-bravo")).to_be_visible()
    # a filter beside the search
    page.get_by_label("Search", exact=True).fill(f"cw{tag}")
    page.locator("#id_status").select_option("suspended")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr[id^=org-]")).to_have_count(1)
    expect(page.locator(f"#org-cw{tag}-charlie .status")).to_have_text("Suspended")
    # sorted by a column, then the other way
    page.locator("#id_status").select_option("")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Requests (30 d)").click()
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Requests")
    assert slugs_listed(page) == [f"cw{tag}-bravo", f"cw{tag}-charlie", f"cw{tag}-alpha"]
    page.get_by_role("link", name=re.compile(r"Requests \(30 d\)")).click()
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Requests")
    assert slugs_listed(page) == [f"cw{tag}-alpha", f"cw{tag}-charlie", f"cw{tag}-bravo"]
    expect(page).to_have_url(re.compile(r"ordering=-api_requests_30d"))


def test_an_organizations_page_shows_its_usage_and_health(page: Any, server: Server, world: World):
    page.goto(server.url(None, f"/?q=cw{world.tag}-alpha"))
    page.get_by_role("link", name=f"Alpha Anvils {world.tag}").click()
    expect(page.get_by_role("heading", name=re.compile(f"Alpha Anvils {world.tag}"))).to_be_visible()
    expect(page.locator("#usage-members")).to_have_text("4")
    expect(page.locator("#usage-requests")).to_have_text("7000")
    expect(page.locator("#usage-failed-jobs")).to_have_text("3")
    expect(page.locator("#usage-migrations")).to_contain_text("level with the template")
    expect(page.locator("#org-database")).to_have_text("default")


def test_the_dashboard_ranks_the_noisiest(page: Any, server: Server, world: World):
    page.goto(server.url(None, "/"))
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Platform dashboard")).to_be_visible()
    expect(page.locator("#by-status-list [data-status=suspended]")).to_be_visible()
    expect(page.locator("#noisiest")).to_contain_text(f"cw{world.tag}-alpha")
    expect(page.locator("#failing-jobs")).to_contain_text(f"cw{world.tag}-alpha")
    expect(page.locator("#sign-ups-table tbody tr").first).to_be_visible()


def test_a_bulk_suspend_goes_through_its_confirmation(
    page: Any, server: Server, world: World, django_db_blocker
):
    tag = world.tag
    page.goto(server.url(None, f"/?q=cw{tag}&ordering=slug"))
    page.get_by_label(f"Select Alpha Anvils {tag}").check()
    page.get_by_label(f"Select Bravo Bakery {tag}").check()
    page.get_by_label("With the ticked organizations").select_option("suspend")
    page.get_by_role("button", name="Review…").click()
    expect(page.get_by_role("heading", name="Confirm: Suspend")).to_be_visible()
    expect(page.locator("#bulk-chosen li")).to_have_count(2)
    # nothing is done before the count is confirmed
    with orm_allowed(django_db_blocker):
        assert Organization.objects.get(slug=f"cw{tag}-alpha").status == "active"
    page.get_by_label("Type the number of organizations (2) to confirm").fill("2")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#flash")).to_contain_text("2 organizations: suspend done")
    expect(page.locator(f"#org-cw{tag}-alpha .status")).to_have_text("Suspended")
    expect(page.locator(f"#org-cw{tag}-bravo .status")).to_have_text("Suspended")
    with orm_allowed(django_db_blocker):
        ids = [str(Organization.objects.get(slug=f"cw{tag}-{key}").pk) for key in ("alpha", "bravo")]
        assert AuditEvent.objects.filter(action="organization.suspended", target_id__in=ids).count() == 2


def test_a_support_session_is_opened_with_a_reason(
    page: Any, server: Server, world: World, django_db_blocker: Any
):
    reason = f"Browser test {world.tag}: checking the import page"
    page.goto(server.url(None, "/organizations/acme/"))
    page.get_by_label("Reason").fill(reason)
    page.get_by_label("Minutes").fill("15")
    page.get_by_role("button", name="Open a read-only session").click()
    expect(page.locator("#support-opened")).to_be_visible()
    expect(page.locator("#support-token")).to_have_text(re.compile(r"^lps_"))
    expect(page.get_by_role("cell", name=reason)).to_be_visible()
    with orm_allowed(django_db_blocker):
        assert SupportSession.objects.filter(operator_email=world.operator.email, reason=reason).count() == 1
