"""`make up` serves once the demo's accounts exist and seeds the leads in the background, showing progress:
the accounts step writes no leads, and the leads' seed reports how far it is."""

from io import StringIO

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from shared_apps.users.models import Role, User
from tenant_apps.demo import seed
from tenant_apps.demo.leads import PROGRESS_EVERY, seed_leads
from tenant_apps.leads.models import Lead


@pytest.fixture
def demo_organization(public, monkeypatch):
    monkeypatch.setattr(seed, "ORGANIZATIONS", {"demo-stages": "Demo Stages"})
    monkeypatch.setitem(seed.TIME_ZONES, "demo-stages", "Europe/Berlin")
    monkeypatch.setitem(seed.LEAD_COUNTS, "demo-stages", PROGRESS_EVERY + 5)
    return "demo-stages"


def leads_of(slug: str) -> int:
    organization = seed.organization_selectors.organization_get(slug=slug)
    with schema_context(organization.schema_name):
        return Lead.objects.count()


def test_the_accounts_step_creates_organizations_and_members_but_no_leads(demo_organization):
    out = StringIO()
    call_command("seed_demo", "--accounts-only", stdout=out)
    organization = seed.organization_selectors.organization_get(slug=demo_organization)
    with schema_context(organization.schema_name):
        emails = set(User.objects.values_list("email", flat=True))
    assert leads_of(demo_organization) == 0
    assert {seed.member_email(demo_organization, handle) for handle, _, _ in seed.MEMBERS} <= emails
    assert User.objects.filter(email=seed.OPERATOR_EMAIL).exists()
    assert f"{demo_organization}: http://" in out.getvalue()


def test_make_ups_seed_shows_the_sign_ins_first_then_the_leads_progress(demo_organization):
    out, err = StringIO(), StringIO()
    call_command("seed_demo", "--progress", stdout=out, stderr=err)
    count = PROGRESS_EVERY + 5
    assert f"its {count} demo leads are being seeded (progress below)" in out.getvalue()
    assert seed.member_email(demo_organization, "admin") in out.getvalue()
    assert f"[seed] {demo_organization}: {PROGRESS_EVERY}/{count} demo leads" in err.getvalue()
    assert f"[seed] the demo is seeded: {demo_organization} {count} leads" in err.getvalue()
    assert leads_of(demo_organization) == count


def test_the_leads_seed_reports_its_progress(org, member):
    member(role=Role.REP)
    member(role=Role.MANAGER)
    calls: list[tuple[str, int, int]] = []
    count = PROGRESS_EVERY * 2 + 3
    assert seed_leads(organization=org, count=count, progress=lambda *call: calls.append(call)) == count
    assert calls == [
        (org.slug, PROGRESS_EVERY, count),
        (org.slug, PROGRESS_EVERY * 2, count),
        (org.slug, count, count),
    ]
