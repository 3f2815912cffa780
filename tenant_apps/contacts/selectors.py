"""Reads on contacts: deleted and merged contacts are invisible unless asked for."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from shared_apps.users.models import User
from tenant_apps.contacts.exceptions import ContactNotFound
from tenant_apps.contacts.models import Contact
from tenant_apps.records import visibility
from tenant_apps.records.selectors import COMMON_FILTERS, Filter, apply_filters


def _account(contacts: QuerySet[Any], value: Any, actor: User | None) -> QuerySet[Any]:
    return contacts.filter(account__isnull=True) if value == "none" else contacts.filter(account_id=value)


_FILTERS: dict[str, Filter] = {**COMMON_FILTERS, "account": _account}


def contact_list(*, actor: User | None, filters: dict[str, Any] | None = None) -> QuerySet[Contact]:
    """Live contacts with owner and account joined (a page costs one query). `filters` keys: account
    (id | "none"), owner ("me" | "none" | id), tag, created_after/before."""
    contacts = visibility.contacts_for(actor).alive().select_related("owner", "account")
    return apply_filters(contacts, filters, _FILTERS, actor)


def contact_get(*, contact_id: int, include_deleted: bool = False, include_merged: bool = False) -> Contact:
    """One contact; a merged one only with `include_merged` (its detail URL answers with the survivor)."""
    contacts = Contact.objects.select_related("owner", "account")
    if not include_deleted:
        contacts = contacts.filter(deleted_at__isnull=True)
    if not include_merged:
        contacts = contacts.filter(merged_into__isnull=True)
    contact = contacts.filter(pk=contact_id).first()
    if contact is None:
        raise ContactNotFound(id=contact_id)
    return contact
