"""Builders for every record type a merge touches, and counts of everything that hangs on a record.

Contacts, accounts and opportunities are built with the ORM (their services are written elsewhere), each
with a CREATED activity as a service would write it; notes and activities go through the real services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import QuerySet

from shared_apps.users.models import User
from tenant_apps.accounts.models import Account, AccountStatusChange
from tenant_apps.activities.models import Activity, ActivityType, Note
from tenant_apps.activities.services import activity_log, activity_record, note_add
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.records import normalize
from tenant_apps.tasks.models import Task

# Everything that points at a record of each type, written out independently of the merge service's list
# (test_merge_moves_every_kind_of_relation checks that list against the models). Tombstones pointing at a
# record are not moved: the chain is followed when read.
RELATED: dict[type, dict[str, Callable[[int], QuerySet[Any]]]] = {
    Lead: {
        "activities": lambda pk: Activity.objects.filter(lead_id=pk),
        "notes": lambda pk: Note.objects.filter(lead_id=pk),
        "tasks": lambda pk: Task.objects.filter(lead_id=pk),
        "opportunities": lambda pk: Opportunity.objects.filter(source_lead_id=pk),
    },
    Contact: {
        "activities": lambda pk: Activity.objects.filter(contact_id=pk),
        "notes": lambda pk: Note.objects.filter(contact_id=pk),
        "tasks": lambda pk: Task.objects.filter(contact_id=pk),
        "opportunities": lambda pk: Opportunity.objects.filter(primary_contact_id=pk),
        "leads": lambda pk: Lead.objects.filter(converted_contact_id=pk),
    },
    Account: {
        "activities": lambda pk: Activity.objects.filter(account_id=pk),
        "notes": lambda pk: Note.objects.filter(account_id=pk),
        "tasks": lambda pk: Task.objects.filter(account_id=pk),
        "contacts": lambda pk: Contact.objects.filter(account_id=pk),
        "opportunities": lambda pk: Opportunity.objects.filter(account_id=pk),
        "leads": lambda pk: Lead.objects.filter(converted_account_id=pk),
        "status_changes": lambda pk: AccountStatusChange.objects.filter(account_id=pk),
    },
}


def counts(record: Any) -> dict[str, int]:
    """How many rows of each kind point at the record."""
    return {kind: rows(record.pk).count() for kind, rows in RELATED[type(record)].items()}


def total(*records: Any) -> dict[str, int]:
    summed: dict[str, int] = {}
    for record in records:
        for kind, count in counts(record).items():
            summed[kind] = summed.get(kind, 0) + count
    return summed


@pytest.fixture
def make_account(in_org: Any, admin: User) -> Callable[..., Account]:
    def make(name: str = "Initech", **fields: Any) -> Account:
        account = Account.objects.create(name=name, **fields)
        activity_record(record=account, type=ActivityType.CREATED, actor_id=admin.pk, subject="Created")
        return account

    return make


@pytest.fixture
def make_contact(in_org: Any, admin: User) -> Callable[..., Contact]:
    def make(name: str = "Pat Doe", **fields: Any) -> Contact:
        if fields.get("phone"):
            fields["phone_normalized"] = normalize.phone(fields["phone"])
        contact = Contact.objects.create(name=name, **fields)
        activity_record(record=contact, type=ActivityType.CREATED, actor_id=admin.pk, subject="Created")
        return contact

    return make


@pytest.fixture
def make_opportunity(in_org: Any, admin: User) -> Callable[..., Opportunity]:
    def make(account: Account, name: str = "Deal", **fields: Any) -> Opportunity:
        opportunity = Opportunity.objects.create(account=account, name=name, **fields)
        activity_record(record=opportunity, type=ActivityType.CREATED, actor_id=admin.pk, subject="Created")
        return opportunity

    return make


@pytest.fixture
def busy(in_org: Any, admin: User) -> Callable[..., None]:
    """busy(record, notes=1, calls=1, tasks=1): a record with a timeline, notes and tasks of its own."""

    def fill(record: Any, notes: int = 1, calls: int = 1, tasks: int = 1) -> None:
        for index in range(notes):
            note_add(record=record, actor=admin, body=f"note {index} on {record}")
        for index in range(calls):
            activity_log(record=record, actor=admin, type=ActivityType.CALL, subject=f"call {index}")
        for index in range(tasks):
            Task.objects.create(title=f"task {index}", **{record._meta.model_name: record})

    return fill
