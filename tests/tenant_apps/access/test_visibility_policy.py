"""The one visibility policy (tenant_apps.records.visibility): who sees and who changes which records."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from shared_apps.users.models import Role, User
from tenant_apps.records import visibility
from tests.conftest import PASSWORD, client_for
from tests.isolation.routes import tenant_routes
from tests.tenant_apps.access.conftest import reps_see_all

WRITES = ("POST", "PUT", "PATCH", "DELETE")
# API routes a viewer may write to, with the reason
VIEWER_WRITES = {
    "exports": "asking for an export job changes no record: whoever may read a list may export it",
    "token": "signing in (the token is the member's own)",
    "sign-out": "ending one's own session",
    "me": "one's own profile (time zone)",
    "lead-columns": "one's own choice of the lead list's columns",
    **{
        name: "the member's own second factor"
        for name in (
            "two-factor-setup",
            "two-factor-confirm",
            "two-factor-recovery-codes",
            "two-factor-disable",
        )
    },
    "password-reset": "asking for a reset link (anyone may)",
    "password-reset-confirm": "setting a password with a reset link (anyone holding one may)",
    **{
        key: "one's own password, email, sessions and tokens"
        for key in ("me-password", "me-email", "me-sessions", "me-session", "me-tokens", "me-token")
    },
}


def names(queryset):
    return sorted(queryset.values_list("name", flat=True))


def _member(walls, role):
    with schema_context(walls.organization.schema_name):
        return User.objects.create_user(f"{role}-x@acme.test", PASSWORD, role=role)


def test_reps_see_their_own_and_unassigned_leads_and_deals_others_see_all(walls):
    manager, viewer = _member(walls, Role.MANAGER), _member(walls, Role.VIEWER)
    with schema_context(walls.organization.schema_name):
        assert names(visibility.leads_for(walls.rep1.rep)) == [
            "Converted of rep1",
            "Lead of rep1",
            "Unassigned lead",
        ]
        assert names(visibility.opportunities_for(walls.rep1.rep)) == ["Deal of rep1"]
        for actor in (None, manager, viewer):
            assert len(names(visibility.leads_for(actor))) == 5
            assert len(names(visibility.opportunities_for(actor))) == 2
        # accounts and contacts are shared inside the organization
        assert names(visibility.accounts_for(walls.rep1.rep)) == ["Shared Account"]
        assert names(visibility.contacts_for(walls.rep1.rep)) == ["Shared Contact"]


def test_what_hangs_on_a_record_is_visible_exactly_when_the_record_is(walls):
    with schema_context(walls.organization.schema_name):
        notes = visibility.notes_for(walls.rep1.rep).values_list("body", flat=True)
        assert notes and all("rep1" in body for body in notes)
        activities = visibility.activities_for(walls.rep1.rep)
        assert not activities.filter(lead__in=[walls.rep2.lead, walls.rep2.converted]).exists()
        assert not activities.filter(opportunity=walls.rep2.deal).exists()
        assert activities.filter(opportunity=walls.rep1.deal).exists()
        assert activities.filter(lead=walls.unassigned).exists()
        everything = visibility.activities_for(None).count()
        assert visibility.activities_for(walls.rep2.rep).count() < everything
        for note in visibility.notes_for(None):
            assert visibility.can_see(walls.rep1.rep, note) == ("rep1" in note.body)


def test_the_organization_setting_opens_every_lead_and_deal_to_reps(walls):
    reps_see_all(walls.organization, True)
    with schema_context(walls.organization.schema_name):
        assert len(names(visibility.leads_for(walls.rep1.rep))) == 5
        assert visibility.can_see(walls.rep1.rep, walls.rep2.deal)
        # ...but a rep still changes only their own
        assert not visibility.can_change(walls.rep1.rep, walls.rep2.lead)


def test_a_job_with_a_stand_in_tenant_reads_the_organizations_setting(walls):
    """Inside schema_context the tenant is django-tenants' FakeTenant, without the organization's fields."""
    with schema_context(walls.organization.schema_name):
        assert not visibility.sees_all_leads(walls.rep1.rep)
    reps_see_all(walls.organization, True)
    with schema_context(walls.organization.schema_name):
        assert visibility.sees_all_leads(walls.rep1.rep)


def test_who_may_change_what(walls):
    manager, viewer = _member(walls, Role.MANAGER), _member(walls, Role.VIEWER)
    rep1 = walls.rep1.rep
    with schema_context(walls.organization.schema_name):
        assert visibility.can_change(rep1, walls.rep1.lead)
        assert visibility.can_change(rep1, walls.rep1.deal)
        assert not visibility.can_change(rep1, walls.rep2.lead)
        assert not visibility.can_change(rep1, walls.rep2.deal)
        assert not visibility.can_change(rep1, walls.unassigned)  # visible, not theirs
        assert visibility.can_change(rep1, walls.account) and visibility.can_change(rep1, walls.contact)
        for record in (walls.rep1.lead, walls.rep2.deal, walls.account, walls.contact):
            assert visibility.can_change(manager, record) and visibility.can_change(None, record)
            assert not visibility.can_change(viewer, record)
        assert visibility.record_visible(rep1, "lead", walls.unassigned.pk)
        assert not visibility.record_visible(rep1, "opportunity", walls.rep2.deal.pk)
        assert not visibility.record_visible(manager, "lead", 999_999)


@pytest.mark.parametrize("route", [route for route in tenant_routes() if route.is_api], ids=lambda r: r.key)
def test_viewers_write_on_no_api_route(org, member, route):
    """Every API route of an organization's host, found by walking its URLconf: a viewer's write is a 403
    whatever it names (the role check comes before the record is looked up)."""
    writes = [method for method in route.methods if method in WRITES]
    if not writes or route.key.split(":")[-1] in VIEWER_WRITES:
        return
    client = client_for(org, member(role=Role.VIEWER))
    for method in writes:
        response = getattr(client, method.lower())(route.path(), {}, format="json")
        assert response.status_code in (401, 403), (method, route.pattern, response.status_code)
