from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import models
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from tenant_apps.accounts.models import Account
from tenant_apps.contacts.models import Contact
from tenant_apps.opportunities.models import Opportunity


@pytest.fixture
def make_record(org: Organization, make_lead: Callable[..., Any]) -> Callable[..., models.Model]:
    """make_record("lead" | "contact" | "account" | "opportunity", organization=..., **fields).

    Leads go through their service; the other types are written as rows (their services are not ours)."""
    counter = iter(range(1, 100_000))

    def make(kind: str, organization: Organization | None = None, **fields: Any) -> models.Model:
        organization = organization or org
        fields.setdefault("name", f"{kind} {next(counter)}")
        if kind == "lead":
            return make_lead(organization=organization, **fields)
        with schema_context(organization.schema_name):
            if kind == "account":
                return Account.objects.create(**fields)
            if kind == "contact":
                return Contact.objects.create(**fields)
            if "account" not in fields and "account_id" not in fields:
                fields["account"] = Account.objects.create(name=f"account of {fields['name']}")
            return Opportunity.objects.create(**fields)

    return make
