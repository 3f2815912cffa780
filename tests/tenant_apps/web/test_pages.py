"""Every page: renders for a member, sends the anonymous to sign-in, refuses another organization's session,
and costs the same number of queries whatever the data size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.services import activity_log
from tenant_apps.leads.models import Stage
from tenant_apps.tasks.services import task_create
from tests.conftest import host_of
from tests.tenant_apps.web.conftest import signed_in


@pytest.fixture
def records(org, admin, make_lead, make_account, make_contact, make_opportunity) -> dict[str, Any]:
    lead = make_lead(name="Jane Page", company="Pages Inc", stage=Stage.CONTACTED, value="1200.00")
    account = make_account(name="Pages Inc")
    contact = make_contact(account=account, name="Paul Page")
    opportunity = make_opportunity(account=account, name="Pages deal", amount="5000.00")
    with schema_context(org.schema_name):
        task_create(actor=admin, title="Call Jane back", lead_id=lead.pk)
    return {"lead": lead, "account": account, "contact": contact, "opportunity": opportunity}


PAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "dashboard": lambda r: "/",
    "pipeline": lambda r: "/pipeline/",
    "pipeline summary": lambda r: "/pipeline/summary/",
    "pipeline card": lambda r: f"/pipeline/cards/{r['lead'].pk}/",
    "leads": lambda r: "/leads/",
    "lead": lambda r: f"/leads/{r['lead'].pk}/",
    "lead timeline": lambda r: f"/leads/{r['lead'].pk}/timeline/",
    "accounts": lambda r: "/accounts/",
    "account": lambda r: f"/accounts/{r['account'].pk}/",
    "account timeline": lambda r: f"/accounts/{r['account'].pk}/timeline/",
    "contacts": lambda r: "/contacts/",
    "contact": lambda r: f"/contacts/{r['contact'].pk}/",
    "opportunities": lambda r: "/opportunities/",
    "opportunity": lambda r: f"/opportunities/{r['opportunity'].pk}/",
    "tasks": lambda r: "/tasks/",
    "password": lambda r: "/password/",
}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("role", [Role.VIEWER, Role.ADMIN])
def test_every_page_renders_for_a_member(web, records, page, role):
    response = web(role).get(PAGES[page](records))
    assert response.status_code == 200, response.content[:500]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_sends_the_anonymous_to_sign_in(anonymous, records, page):
    url = PAGES[page](records)
    response = anonymous.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/?next=")


@pytest.mark.parametrize("page", ["dashboard", "pipeline", "leads", "lead", "accounts", "tasks"])
def test_another_organizations_session_is_refused(org, other_org, member, records, page):
    """Sessions live in the schema of the host that issued them: acme's cookie means nothing on globex, even
    where member ids coincide."""
    globex_member = member(role=Role.ADMIN, organization=other_org)
    acme_client = signed_in(org, member(role=Role.ADMIN))
    cookie = acme_client.cookies["sessionid"].value
    stranger = Client(HTTP_HOST=host_of(other_org))
    stranger.cookies["sessionid"] = cookie
    response = stranger.get(PAGES[page](records))
    assert response.status_code == 302 and response["Location"].startswith("/sign-in/")
    # and the other way round: globex's session on acme's host
    globex_cookie = signed_in(other_org, globex_member).cookies["sessionid"].value
    back = Client(HTTP_HOST=host_of(org))
    back.cookies["sessionid"] = globex_cookie
    assert back.get("/").status_code == 302


def test_a_session_is_refused_on_the_root_domain_console(org, member):
    member_client = signed_in(org, member(role=Role.ADMIN))
    console = Client(HTTP_HOST=host_of(None))
    console.cookies["sessionid"] = member_client.cookies["sessionid"].value
    response = console.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/sign-in/")


def test_pages_show_only_this_organizations_records(org, other_org, make_lead, web):
    """Ids coincide across schemas: each host shows its own lead behind the same id."""
    ours = make_lead(name="Acme own lead")
    theirs = make_lead(name="Globex own lead", organization=other_org)
    acme, globex = web(Role.ADMIN), web(Role.ADMIN, organization=other_org)
    assert "Acme own lead" in acme.get("/leads/").content.decode()
    assert "Globex own lead" not in acme.get("/leads/").content.decode()
    assert "Acme own lead" not in globex.get("/pipeline/").content.decode()
    assert "Globex own lead" in globex.get("/pipeline/").content.decode()
    if ours.pk == theirs.pk:
        assert "Globex" not in acme.get(f"/leads/{ours.pk}/").content.decode()
    missing = max(ours.pk, theirs.pk) + 1000
    assert acme.get(f"/leads/{missing}/").status_code == 404
    assert acme.get(f"/pipeline/cards/{missing}/").status_code == 404


def _grow(org, admin, make_lead, make_account, make_contact, make_opportunity, records, size: int) -> None:
    """`size` more of each record type, each with a few activities, owners and tasks."""
    for index in range(size):
        lead = make_lead(stage=[Stage.NEW, Stage.CONTACTED, Stage.QUALIFIED][index % 3], owner_id=admin.pk)
        account = make_account(owner_id=admin.pk)
        make_contact(account=account)
        make_opportunity(account=account)
        with schema_context(org.schema_name):
            activity_log(actor=admin, type="CALL", lead_id=records["lead"].pk, subject=f"call {index}")
            task_create(actor=admin, title=f"task {index}", lead_id=lead.pk)


COUNTED = [
    "dashboard",
    "pipeline",
    "leads",
    "lead",
    "lead timeline",
    "accounts",
    "account",
    "contacts",
    "opportunities",
    "opportunity",
    "tasks",
]


def test_pages_cost_the_same_queries_whatever_the_data_size(
    org, admin, web, records, make_lead, make_account, make_contact, make_opportunity
):
    client = web(Role.ADMIN)
    for page in COUNTED:
        client.get(PAGES[page](records))  # warm the routing cache

    def counts() -> dict[str, int]:
        found = {}
        for page in COUNTED:
            with CaptureQueriesContext(connection) as queries:
                response = client.get(PAGES[page](records))
            assert response.status_code == 200, page
            found[page] = len(queries)
        return found

    small = counts()
    _grow(org, admin, make_lead, make_account, make_contact, make_opportunity, records, 6)
    large = counts()
    assert small == large, {
        page: (small[page], large[page]) for page in COUNTED if small[page] != large[page]
    }
    assert max(large.values()) <= 14, large
