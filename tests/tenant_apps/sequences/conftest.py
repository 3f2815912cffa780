from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import User
from tenant_apps.sequences import services
from tenant_apps.sequences.models import Sequence
from tests.tenant_apps.sequences.smtp import _smtp_server, smtp  # noqa: F401 (fixtures)

TWO_STEPS = [
    {
        "subject": "Hello {{ lead.first_name }}",
        "body": "Hi {{ lead.name }} at {{ lead.company }}.\n-- {{ owner.full_name }}",
    },
    {
        "subject": "Following up, {{ lead.first_name }}",
        "body": "Any news?",
        "delay_days": 2,
        "delay_hours": 3,
    },
]


@pytest.fixture
def make_sequence(org: Organization, admin: User) -> Callable[..., Sequence]:
    """make_sequence(steps=..., organization=..., name=...) through the service; two steps by default."""

    def make(
        steps: list[dict[str, Any]] | None = None, organization: Organization | None = None, **fields: Any
    ) -> Sequence:
        organization = organization or org
        fields.setdefault("name", "Outreach")
        with schema_context(organization.schema_name):
            return services.sequence_create(
                actor=admin if organization == org else None,
                steps=TWO_STEPS if steps is None else steps,
                **fields,
            )

    return make
