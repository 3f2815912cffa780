from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.customfields import services, values
from tenant_apps.customfields.models import CustomField


@pytest.fixture(autouse=True)
def _forget_definitions() -> Iterator[None]:
    """Definitions are memoized per request/job; a rolled-back test must not leave its own behind."""
    values.forget()
    yield
    values.forget()


@pytest.fixture
def make_field(org: Organization, member: Callable[..., User]) -> Callable[..., CustomField]:
    """make_field(key, type, record_type="lead", organization=org, **definition) through the service."""
    admins: dict[str, User] = {}

    def make(
        key: str,
        kind: str = "text",
        record_type: str = "lead",
        organization: Organization | None = None,
        **data: Any,
    ) -> CustomField:
        organization = organization or org
        if organization.slug not in admins:
            admins[organization.slug] = member(role=Role.ADMIN, organization=organization)
        with schema_context(organization.schema_name):
            return services.custom_field_create(
                actor=admins[organization.slug],
                record_type=record_type,
                key=key,
                type=kind,
                label=data.pop("label", key.replace("_", " ").title()),
                **data,
            )

    return make
