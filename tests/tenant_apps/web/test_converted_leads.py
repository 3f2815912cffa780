"""On the pages a converted lead shows as converted, with links to what it became (only those the member
may see), and leaves the board and the dashboard's open pipeline."""

import re

from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.leads import conversion
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.opportunities.models import Opportunity
from tests.tenant_apps.web.conftest import signed_in


def _converted(make_lead, org, **fields):
    lead = make_lead(stage=Stage.QUALIFIED, company="Initech", value="900.00", **fields)
    with schema_context(org.schema_name):
        conversion.lead_convert(lead_id=lead.pk, actor=None, create_opportunity=True)
        return Lead.objects.get(pk=lead.pk)


def test_the_lead_page_shows_converted_and_links_to_what_it_became(web, make_lead, org):
    lead = _converted(make_lead, org, name="Jane Converted")
    page = web(Role.ADMIN).get(f"/leads/{lead.pk}/").content.decode()
    assert 'class="badge converted"' in page
    assert "Move to" not in page
    assert f'href="/accounts/{lead.converted_account_id}/"' in page
    assert f'href="/contacts/{lead.converted_contact_id}/"' in page
    assert f'href="/opportunities/{lead.converted_opportunity_id}/"' in page
    listing = web(Role.ADMIN).get("/leads/").content.decode()
    row = re.search(rf'<li class="row" id="row-{lead.pk}".*?</li>', listing, re.S)
    assert row and "Converted" in row.group(0) and "Qualified</span>" not in row.group(0)


def test_a_rep_sees_no_link_to_a_deal_they_may_not_see(web, make_lead, member, org):
    rep, other = member(role=Role.REP), member(role=Role.REP)
    lead = _converted(make_lead, org, name="Shared", owner_id=rep.pk)
    with schema_context(org.schema_name):
        # the deal went to another rep since: this rep may not see it (nor learn its name)
        Opportunity.objects.filter(pk=lead.converted_opportunity_id).update(owner_id=other.pk)
    page = signed_in(org, rep).get(f"/leads/{lead.pk}/").content.decode()
    assert 'class="badge converted"' in page
    assert f"/opportunities/{lead.converted_opportunity_id}/" not in page


def test_the_board_and_the_dashboard_leave_converted_leads_out(web, make_lead, org):
    lead = _converted(make_lead, org, name="Jane Converted")
    make_lead(name="Joe Open", stage=Stage.QUALIFIED, value="100.00")
    client = web(Role.ADMIN)
    board = client.get("/pipeline/").content.decode()
    assert "Joe Open" in board and "Jane Converted" not in board
    summary = client.get("/pipeline/summary/").json()
    assert summary["QUALIFIED"]["count"] == 1
    assert client.get(f"/pipeline/cards/{lead.pk}/").status_code == 404
    dashboard = client.get("/").content.decode()
    kpi = r"Open pipeline \(USD\)</span><strong>\$100</strong><small>1 lead<"
    assert re.search(kpi, dashboard), dashboard
