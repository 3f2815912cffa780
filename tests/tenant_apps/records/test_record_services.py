"""The services every customer record shares (tenant_apps.records.services), on each record type."""

import pytest
from django_tenants.utils import schema_context

from shared_apps.core import events
from shared_apps.core.errors import Forbidden
from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType, Note
from tenant_apps.contacts.exceptions import ContactNotDeleted, ContactNotFound
from tenant_apps.contacts.models import Contact
from tenant_apps.leads import services as lead_services
from tenant_apps.leads.exceptions import LeadNotDeleted, LeadNotFound
from tenant_apps.leads.models import Lead
from tenant_apps.records.models import CustomerRecord
from tenant_apps.records.services import (
    record_changes_save,
    record_locked,
    record_note_add,
    record_purge,
    record_restore,
    record_soft_delete,
)


@pytest.fixture
def announced(django_capture_on_commit_callbacks):
    """Run a block and collect the events it announced after commit."""
    seen: list[events.DomainEvent] = []

    class Block:
        def __enter__(self):
            self.undo = events.subscribe("", seen.append)
            self.capture = django_capture_on_commit_callbacks(execute=True)
            self.capture.__enter__()
            return seen

        def __exit__(self, *exc):
            self.capture.__exit__(*exc)
            self.undo()

    return Block


def test_every_record_type_is_a_customer_record():
    from tenant_apps.accounts.models import Account
    from tenant_apps.opportunities.models import Opportunity

    assert all(issubclass(model, CustomerRecord) for model in (Lead, Account, Contact, Opportunity))


def test_an_update_event_carries_its_changes_and_the_owner(in_org, make_contact, admin, member, announced):
    contact = make_contact(name="Ann", title="CTO")
    other = member(role=Role.REP)
    with announced() as seen:
        locked = record_locked(Contact, contact.pk, not_found=ContactNotFound)
        record_changes_save(
            record=locked, cleaned={"title": "CEO", "owner_id": other.pk, "name": "Ann"}, actor_id=admin.pk
        )
    assert [(event.topic, event.data) for event in seen] == [
        ("contact.owner_changed", {"owner_id": other.pk, "from": contact.owner_id, "to": other.pk}),
        (
            "contact.updated",
            {"owner_id": other.pk, "fields": ["title"], "changes": {"title": ["CTO", "CEO"]}},
        ),
    ]


def test_a_lead_update_event_carries_old_and_new_values_without_derived_fields(
    in_org, make_lead, admin, announced
):
    lead = make_lead(name="Jane", company="Acme", phone="")
    with announced() as seen:
        lead_services.lead_update(
            lead_id=lead.pk, actor=admin, changes={"company": "Globex", "phone": "+1 555 0100", "value": 10}
        )
    [event] = [event for event in seen if event.topic == "lead.updated"]
    assert event.data["changes"] == {
        "company": ["Acme", "Globex"],
        "phone": ["", "+1 555 0100"],
        "value": ["0.00", "10.00"],
    }
    assert event.data["fields"] == ["company", "phone", "value"]
    # identity key and normalized phone follow, and are not reported as changes
    saved = Lead.objects.get(pk=lead.pk)
    assert saved.identity_key != lead.identity_key and saved.phone_normalized == "+15550100"


def test_soft_delete_and_restore_a_record(in_org, make_contact, admin):
    contact = make_contact()
    with pytest.raises(ContactNotDeleted):
        record_restore(
            model=Contact,
            record_id=contact.pk,
            actor_id=admin.pk,
            not_found=ContactNotFound,
            not_deleted=ContactNotDeleted,
        )
    record_soft_delete(record=record_locked(Contact, contact.pk, not_found=ContactNotFound), actor_id=None)
    with pytest.raises(ContactNotFound):
        record_locked(Contact, contact.pk, not_found=ContactNotFound)
    assert record_locked(Contact, contact.pk, not_found=ContactNotFound, deleted=True).pk == contact.pk
    restored = record_restore(
        model=Contact,
        record_id=contact.pk,
        actor_id=admin.pk,
        not_found=ContactNotFound,
        not_deleted=ContactNotDeleted,
    )
    assert restored.deleted_at is None
    events_written = Activity.objects.filter(contact=contact, type=ActivityType.SYSTEM)
    assert sorted(events_written.values_list("metadata__event", flat=True)) == ["deleted", "restored"]


def test_a_note_goes_on_a_live_record_only(in_org, make_contact, admin):
    contact = make_contact()
    note = record_note_add(
        model=Contact, record_id=contact.pk, actor=admin, body="hello", not_found=ContactNotFound
    )
    assert Note.objects.get(pk=note.pk).contact_id == contact.pk
    Contact.objects.filter(pk=contact.pk).update(deleted_at="2026-01-01T00:00:00Z")
    with pytest.raises(ContactNotFound):
        record_note_add(model=Contact, record_id=contact.pk, actor=admin, body="x", not_found=ContactNotFound)


def test_purge_is_for_admins_and_deleted_records_only(in_org, make_lead, admin, member, announced):
    lead = make_lead(owner_id=admin.pk)
    purge = {"model": Lead, "record_id": lead.pk, "not_found": LeadNotFound, "not_deleted": LeadNotDeleted}
    with pytest.raises(Forbidden):
        record_purge(actor=member(role=Role.MANAGER), **purge)
    with pytest.raises(LeadNotDeleted):
        record_purge(actor=admin, **purge)
    lead_services.lead_delete(lead_id=lead.pk, actor=admin)
    with announced() as seen:
        record_purge(actor=admin, **purge)
    assert not Lead.objects.filter(pk=lead.pk).exists()
    assert not Activity.objects.filter(lead_id=lead.pk).exists()
    # the purge event still says whose lead it was (the stream decides who sees it from that)
    assert [(event.topic, event.data) for event in seen] == [("lead.purged", {"owner_id": admin.pk})]


def test_lead_update_refuses_an_owner_id_out_of_range(in_org, make_lead, admin):
    from shared_apps.core.errors import InvalidInput

    lead = make_lead()
    with pytest.raises(InvalidInput) as refused:
        lead_services.lead_update(lead_id=lead.pk, actor=admin, changes={"owner_id": 2**63})
    assert refused.value.field == "owner"


def test_records_of_another_organization_are_not_found(make_contact, org, other_org):
    contact = make_contact(organization=other_org)
    with schema_context(org.schema_name), pytest.raises(ContactNotFound):
        record_locked(Contact, contact.pk, not_found=ContactNotFound)
