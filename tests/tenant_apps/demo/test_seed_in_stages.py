"""`make up` serves once the demo's accounts exist and seeds the leads in the background, showing progress:
the accounts step writes no leads, and the leads' seed reports how far it is."""

from io import StringIO

from django.core.management import call_command
from django_tenants.utils import schema_context

from shared_apps.users.models import Role, User
from tenant_apps.demo import seed
from tenant_apps.demo.leads import PROGRESS_EVERY, seed_leads
from tenant_apps.leads.models import Lead


def test_the_accounts_step_creates_organizations_and_members_but_no_leads(public, monkeypatch):
    monkeypatch.setattr(seed, "ORGANIZATIONS", {"demo-accounts": "Demo Accounts"})
    monkeypatch.setitem(seed.TIME_ZONES, "demo-accounts", "Europe/Berlin")
    monkeypatch.setitem(seed.LEAD_COUNTS, "demo-accounts", 30)
    out = StringIO()
    call_command("seed_demo", "--accounts-only", stdout=out)
    organization = seed.organization_selectors.organization_get(slug="demo-accounts")
    with schema_context(organization.schema_name):
        emails = set(User.objects.values_list("email", flat=True))
        assert Lead.objects.count() == 0
    assert {seed.member_email("demo-accounts", handle) for handle, _, _ in seed.MEMBERS} <= emails
    assert User.objects.filter(email=seed.OPERATOR_EMAIL).exists()
    assert "its 30 demo leads are being seeded in the background" in out.getvalue()


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
