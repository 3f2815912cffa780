"""Two reps with records of the same shape: each owns a lead and a deal on a shared account (with an email
and a note on each), and one lead each is converted into that account."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import ActivityType
from tenant_apps.activities.services import activity_record, note_add
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity
from tests.conftest import client_for


@dataclass
class Side:
    """One rep's records: `lead` and `deal` are theirs, `converted` a lead of theirs converted into the
    shared account."""

    rep: User
    lead: Lead
    deal: Opportunity
    converted: Lead
    client: Any = None


@dataclass
class Walls:
    organization: Organization
    account: Account
    contact: Contact
    unassigned: Lead
    rep1: Side
    rep2: Side


def _side(organization: Organization, rep: User, tag: str, account: Account, make_lead: Any) -> Side:
    lead = make_lead(name=f"Lead of {tag}", email=f"{tag}@customer.test", owner_id=rep.pk)
    converted = make_lead(name=f"Converted of {tag}", owner_id=rep.pk)
    with schema_context(organization.schema_name):
        deal = Opportunity.objects.create(name=f"Deal of {tag}", account=account, owner=rep, amount=20_000)
        Lead.objects.filter(pk=converted.pk).update(converted_account=account)
        for record in (lead, deal, converted):
            activity_record(
                record=record,
                type=ActivityType.EMAIL,
                actor_id=rep.pk,
                subject=f"Email on {record.name}",
                body=f"secret of {tag}",
            )
            note_add(record=record, actor=rep, body=f"Note on {record.name} ({tag} secret)")
    return Side(rep=rep, lead=lead, deal=deal, converted=converted, client=client_for(organization, rep))


@pytest.fixture
def walls(org: Organization, member: Callable[..., User], make_lead: Any) -> Iterator[Walls]:
    """Acme keeps reps to their own leads and deals (the default)."""
    with schema_context(org.schema_name):
        account = Account.objects.create(name="Shared Account")
        contact = Contact.objects.create(name="Shared Contact", account=account)
    unassigned = make_lead(name="Unassigned lead", email="nobody@customer.test")
    rep1, rep2 = member(role=Role.REP), member(role=Role.REP)
    yield Walls(
        organization=org,
        account=account,
        contact=contact,
        unassigned=unassigned,
        rep1=_side(org, rep1, "rep1", account, make_lead),
        rep2=_side(org, rep2, "rep2", account, make_lead),
    )


def reps_see_all(organization: Organization, on: bool) -> None:
    """Turn the organization's "reps see all leads" on or off (saved: the host's cached tenant follows)."""
    with schema_context("public"):
        row = Organization.objects.get(pk=organization.pk)
        row.reps_see_all_leads = on
        row.save()
