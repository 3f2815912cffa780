from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.leads import services
from tenant_apps.leads.models import Lead, Stage

# The shortest valid path from NEW to each stage.
PATHS = {
    Stage.NEW: [],
    Stage.CONTACTED: [Stage.CONTACTED],
    Stage.QUALIFIED: [Stage.CONTACTED, Stage.QUALIFIED],
    Stage.PROPOSAL: [Stage.CONTACTED, Stage.QUALIFIED, Stage.PROPOSAL],
    Stage.NEGOTIATION: [Stage.CONTACTED, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION],
    Stage.WON: [Stage.CONTACTED, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.WON],
    Stage.LOST: [Stage.LOST],
}


@pytest.fixture
def in_org(org: Organization):
    """Run the test body in acme's schema (services and ORM calls made directly)."""
    with schema_context(org.schema_name):
        yield org


@pytest.fixture
def admin(member: Callable[..., User]) -> User:
    return member(role=Role.ADMIN)


@pytest.fixture
def make_lead(org: Organization, admin: User) -> Callable[..., Lead]:
    """make_lead(name=..., stage=..., organization=..., **fields) creates a lead through the services."""
    counter = iter(range(1, 100_000))

    def make(
        stage: str = Stage.NEW,
        organization: Organization | None = None,
        actor: User | None = None,
        **fields: Any,
    ) -> Lead:
        fields.setdefault("name", f"Lead {next(counter)}")
        fields.setdefault("allow_duplicate", True)
        organization = organization or org
        if actor is None and organization == org:
            actor = admin  # acme's admin; leads of another organization are made by nobody in particular
        with schema_context(organization.schema_name):
            lead = services.lead_create(actor=actor, **fields)
            for step in PATHS[stage]:
                lead = services.lead_transition(lead_id=lead.pk, to_stage=step, actor=actor)
            return lead

    return make
