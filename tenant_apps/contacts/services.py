"""Every write on contacts: each writes its activity in the same transaction and announces itself on
commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_text
from shared_apps.users.models import User
from tenant_apps.accounts.services import clean_account
from tenant_apps.activities.models import Activity, ActivityType, Note
from tenant_apps.activities.services import activity_log, activity_record
from tenant_apps.contacts.exceptions import ContactNotDeleted, ContactNotFound, DuplicateContact
from tenant_apps.contacts.models import Contact
from tenant_apps.customfields.values import event_values
from tenant_apps.records import normalize
from tenant_apps.records.services import (
    changed_keys,
    check_fields,
    clean_owner,
    clean_tags,
    created_metadata,
    custom_for_create,
    custom_for_update,
    record_alive,
    record_changes_save,
    record_create_check,
    record_duplicate_check,
    record_email_check,
    record_locked,
    record_note_add,
    record_purge,
    record_restore,
    record_soft_delete,
)

CONTACT_FIELDS = ("name", "email", "phone", "title", "account_id", "owner_id", "tags", "custom")


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "name":
            cleaned["name"] = clean_text(value, field="name", max_length=200, required=True)
        elif key == "email":
            cleaned["email"] = normalize.email(clean_text(value, field="email", max_length=254))
        elif key == "phone":
            cleaned["phone"] = clean_text(value, field="phone", max_length=40)
            cleaned["phone_normalized"] = normalize.phone(cleaned["phone"])
        elif key == "title":
            cleaned["title"] = clean_text(value, field="title", max_length=200)
        elif key == "account_id":
            cleaned["account_id"] = clean_account(value)
        elif key == "owner_id":
            cleaned["owner_id"] = clean_owner(value)
        elif key == "tags":
            cleaned["tags"] = clean_tags(value)
    return cleaned


def contact_create(
    *,
    actor: User | None,
    from_lead_id: int | None = None,
    allow_duplicate: bool = False,
    allow_do_not_contact: bool = False,
    **fields: Any,
) -> Contact:
    """Create a contact, at a live account or none, with its CREATED activity (on the account's timeline
    too); `from_lead_id` names the lead a conversion made it from. Refuses a duplicate (a live contact with
    the same email or phone) unless `allow_duplicate`, and an address on the do-not-contact list unless
    `allow_do_not_contact`, as lead_create does."""
    record_create_check()
    check_fields(fields, CONTACT_FIELDS)
    cleaned = _clean({"name": fields.get("name"), **fields})
    cleaned["custom"] = custom_for_create("contact", fields, converted=from_lead_id is not None)
    record_email_check(email=cleaned.get("email", ""), allow=allow_do_not_contact)
    actor_id = actor.pk if actor else None
    with transaction.atomic():
        if not allow_duplicate:
            keys = {field: cleaned.get(field, "") for field in ("email", "phone_normalized")}
            record_duplicate_check(model=Contact, actor=actor, keys=keys, error=DuplicateContact)
        contact = Contact.objects.create(**cleaned)
        suffix, metadata = created_metadata(
            from_lead_id, account_id=contact.account_id, owner_id=contact.owner_id
        )
        activity_record(
            record=contact,
            type=ActivityType.CREATED,
            actor_id=actor_id,
            subject=f"Contact created: {contact.name}{suffix}",
            metadata=metadata,
        )
        publish_on_commit(
            "contact.created",
            record_id=contact.pk,
            actor_id=actor_id,
            account_id=contact.account_id,
            **event_values("contact", contact),
        )
    return contact


def _locked(contact_id: int) -> Contact:
    return record_locked(Contact, contact_id, not_found=ContactNotFound)


@transaction.atomic
def contact_update(
    *,
    contact_id: int,
    actor: User | None,
    changes: dict[str, Any],
    allow_duplicate: bool = False,
    allow_do_not_contact: bool = False,
) -> Contact:
    """Change editable fields; moving to another account needs a live one (activities already written stay
    on the account they were on). An email or phone changed to another live contact's is refused, unless
    `allow_duplicate`."""
    check_fields(changes, CONTACT_FIELDS)
    cleaned = _clean(changes)
    contact = _locked(contact_id)
    custom_for_update("contact", changes, contact, cleaned)
    if cleaned.get("email", contact.email) != contact.email:
        record_email_check(email=cleaned["email"], allow=allow_do_not_contact)
    if not allow_duplicate:
        record_duplicate_check(
            model=Contact,
            actor=actor,
            keys=changed_keys(contact, cleaned),
            error=DuplicateContact,
            exclude_id=contact.pk,
        )
    record_changes_save(record=contact, cleaned=cleaned, actor_id=actor.pk if actor else None)
    return contact


@transaction.atomic
def contact_delete(*, contact_id: int, actor: User | None) -> Contact:
    """Soft delete: hidden from lists and lookups, restorable."""
    contact = _locked(contact_id)
    record_soft_delete(record=contact, actor_id=actor.pk if actor else None)
    return contact


@transaction.atomic
def contact_restore(*, contact_id: int, actor: User | None) -> Contact:
    return record_restore(
        model=Contact,
        record_id=contact_id,
        actor_id=actor.pk if actor else None,
        not_found=ContactNotFound,
        not_deleted=ContactNotDeleted,
    )


@transaction.atomic
def contact_purge(*, contact_id: int, actor: User, request: HttpRequest | None = None) -> None:
    """Remove a deleted contact for good, with its notes, tasks and timeline (its entries on its account's
    timeline too). Admins only. Deals naming it as their primary contact stay, without one."""
    record_purge(
        model=Contact,
        record_id=contact_id,
        actor=actor,
        not_found=ContactNotFound,
        not_deleted=ContactNotDeleted,
        request=request,
    )


def _alive(contact_id: int) -> Contact:
    return record_alive(Contact, contact_id, not_found=ContactNotFound)


def contact_note_add(*, contact_id: int, actor: User | None, body: Any) -> Note:
    return record_note_add(
        model=Contact, record_id=contact_id, actor=actor, body=body, not_found=ContactNotFound
    )


def contact_activity_log(*, contact_id: int, actor: User | None, **activity: Any) -> Activity:
    """Log an activity on the contact; a call, meeting, email or note moves last_contacted_at forward."""
    return activity_log(record=_alive(contact_id), actor=actor, **activity)
