from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.activities.models import Activity
from tenant_apps.activities.services import email_record
from tenant_apps.leads.models import Lead, Stage
from tests.conftest import client_for

EMAIL = "jane.doe@customer.test"


@dataclass
class Jane:
    """A person held in acme as a lead and as a contact, with a timeline, notes, tasks and emails."""

    lead: Lead
    contact_id: int
    bob: Lead  # another lead, on whose timeline an email copies Jane
    bob_email_id: int
    account_id: int
    deal_id: int


def post(client: Any, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = client.post(path, body, format="json")
    assert response.status_code == status, response.content
    return response.json()


@pytest.fixture
def admin_client(org: Organization, admin: User) -> Any:
    return client_for(org, admin)


@pytest.fixture
def jane(org: Organization, admin: User, admin_client: Any, make_lead: Any) -> Jane:
    lead = make_lead(
        name="Jane Doe",
        email=EMAIL,
        phone="+1 555 010 7777",
        company="Zanzibar Widgets",
        tags=["conference"],
        stage=Stage.CONTACTED,
    )
    bob = make_lead(name="Bob Roe", email="bob@customer.test", company="Other Co")
    post(
        admin_client,
        f"/api/leads/{lead.pk}/activities/",
        {"type": "CALL", "subject": "Call with Jane", "body": "Jane mentioned the Quixotic budget."},
    )
    post(admin_client, f"/api/leads/{lead.pk}/notes/", {"body": "Jane prefers mornings."})
    post(admin_client, "/api/tasks/", {"title": "Send Jane the quote", "lead": lead.pk})
    with schema_context(org.schema_name):
        email_record(
            lead_id=lead.pk,
            actor=None,
            fields={
                "from": f"Jane Doe <{EMAIL}>",
                "to": "sales@acme.test",
                "subject": "Quixotic pricing",
                "body": "Hello, this is Jane.",
                "message_id": "<jane-1@customer.test>",
            },
        )
        bob_email = email_record(
            lead_id=bob.pk,
            actor=None,
            fields={
                "from": "Bob Roe <bob@customer.test>",
                "to": "sales@acme.test",
                "cc": f"Jane Doe <{EMAIL.upper()}>",
                "subject": "Intro to Jane",
                "body": "Copying Jane.",
                "message_id": "<bob-1@customer.test>",
            },
        ).activity
    account = post(admin_client, "/api/accounts/", {"name": "Widgets Incorporated"})
    contact = post(
        admin_client, "/api/contacts/", {"name": "Jane Doe", "email": EMAIL, "account": account["id"]}
    )
    post(
        admin_client,
        f"/api/contacts/{contact['id']}/activities/",
        {"type": "MEETING", "subject": "Lunch with Jane", "body": "Quixotic plans"},
    )
    post(admin_client, f"/api/contacts/{contact['id']}/notes/", {"body": "Jane's assistant is Tom."})
    deal = post(
        admin_client,
        "/api/opportunities/",
        {"name": "Widgets deal", "account": account["id"], "primary_contact": contact["id"]},
    )
    return Jane(lead, contact["id"], bob, bob_email.pk, account["id"], deal["id"])


def timeline(org: Organization, **anchor: Any) -> list[dict[str, Any]]:
    with schema_context(org.schema_name):
        return list(
            Activity.objects.filter(**anchor)
            .order_by("id")
            .values("id", "type", "actor_id", "occurred_at", "created_at", "subject", "body", "metadata")
        )


@pytest.fixture
def rep_client(org: Organization, member: Any) -> Any:
    return client_for(org, member(role=Role.REP))


@pytest.fixture
def manager_client(org: Organization, member: Any) -> Any:
    return client_for(org, member(role=Role.MANAGER))
