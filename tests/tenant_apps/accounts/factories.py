"""Fixtures building accounts, contacts and opportunities through their services (shared by the tests of
the three record types and of lead conversion: their conftest files import them from here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import User
from tenant_apps.accounts.models import Account
from tenant_apps.accounts.services import account_create
from tenant_apps.contacts.models import Contact
from tenant_apps.contacts.services import contact_create
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.opportunities.services import opportunity_create, opportunity_transition


def _actor(organization: Organization, org: Organization, admin: User, actor: User | None) -> User | None:
    if actor is None and organization == org:
        return admin  # acme's admin; records of another organization are made by nobody in particular
    return actor


@pytest.fixture
def make_account(org: Organization, admin: User) -> Callable[..., Account]:
    """make_account(name=..., organization=..., actor=..., **fields) creates an account."""
    counter = iter(range(1, 100_000))

    def make(organization: Organization | None = None, actor: User | None = None, **fields: Any) -> Account:
        fields.setdefault("name", f"Account {next(counter)}")
        organization = organization or org
        with schema_context(organization.schema_name):
            return account_create(actor=_actor(organization, org, admin, actor), **fields)

    return make


@pytest.fixture
def make_contact(org: Organization, admin: User) -> Callable[..., Contact]:
    """make_contact(account=<Account | None>, organization=..., **fields) creates a contact."""
    counter = iter(range(1, 100_000))

    def make(
        account: Account | None = None,
        organization: Organization | None = None,
        actor: User | None = None,
        **fields: Any,
    ) -> Contact:
        fields.setdefault("name", f"Contact {next(counter)}")
        organization = organization or org
        with schema_context(organization.schema_name):
            return contact_create(
                actor=_actor(organization, org, admin, actor),
                account_id=account.pk if account else None,
                **fields,
            )

    return make


@pytest.fixture
def make_opportunity(
    org: Organization, admin: User, make_account: Callable[..., Account]
) -> Callable[..., Opportunity]:
    """make_opportunity(account=<Account; a new one by default>, stage=..., **fields); a closed stage is
    reached through the stage service (with a reason)."""
    counter = iter(range(1, 100_000))

    def make(
        account: Account | None = None,
        stage: str | None = None,
        organization: Organization | None = None,
        actor: User | None = None,
        **fields: Any,
    ) -> Opportunity:
        fields.setdefault("name", f"Deal {next(counter)}")
        organization = organization or org
        account = account or make_account(organization=organization)
        actor = _actor(organization, org, admin, actor)
        with schema_context(organization.schema_name):
            if stage in ("CLOSED_WON", "CLOSED_LOST"):
                opportunity = opportunity_create(actor=actor, account_id=account.pk, **fields)
                return opportunity_transition(
                    opportunity_id=opportunity.pk,
                    stage=stage,
                    actor=actor,
                    reason="test",
                    lost_reason="Other" if stage == "CLOSED_LOST" else None,
                )
            if stage is not None:
                fields["stage"] = stage
            return opportunity_create(actor=actor, account_id=account.pk, **fields)

    return make
