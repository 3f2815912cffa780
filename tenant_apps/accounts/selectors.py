"""Reads on accounts with their rules: deleted and merged accounts are invisible unless asked for. The filter
plumbing here is shared by the contact and opportunity selectors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet

from shared_apps.users.models import User
from tenant_apps.accounts.exceptions import AccountNotFound
from tenant_apps.accounts.models import Account, AccountStatusChange
from tenant_apps.records import visibility

Filter = Callable[[QuerySet[Any], Any, User | None], QuerySet[Any]]


def owner_filter(records: QuerySet[Any], value: Any, actor: User | None) -> QuerySet[Any]:
    if value == "me":
        return records.filter(owner_id=actor.pk if actor else None)
    if value == "none":
        return records.filter(owner__isnull=True)
    return records.filter(owner_id=value)


COMMON_FILTERS: dict[str, Filter] = {
    "owner": owner_filter,
    "tag": lambda records, value, actor: records.filter(tags__contains=[value]),
    "created_after": lambda records, value, actor: records.filter(created_at__gte=value),
    "created_before": lambda records, value, actor: records.filter(created_at__lt=value),
}


def apply_filters(
    records: QuerySet[Any], filters: dict[str, Any] | None, table: dict[str, Filter], actor: User | None
) -> QuerySet[Any]:
    for key, value in (filters or {}).items():
        if value in (None, "", []):
            continue
        records = table[key](records, value, actor)
    return records


_FILTERS: dict[str, Filter] = {
    **COMMON_FILTERS,
    "status": lambda accounts, value, actor: accounts.filter(status__in=value),
    "industry": lambda accounts, value, actor: accounts.filter(industry__iexact=value),
    "size": lambda accounts, value, actor: accounts.filter(size__in=value),
    # no activity since the date, or none ever
    "inactive_since": lambda accounts, value, actor: accounts.filter(
        Q(last_activity_at__lt=value) | Q(last_activity_at__isnull=True)
    ),
}


def account_list(*, actor: User | None, filters: dict[str, Any] | None = None) -> QuerySet[Account]:
    """Live accounts with their owner joined (a page costs one query). `filters` keys: status (list), owner
    ("me" | "none" | id), industry, size (list), tag, created_after/before, inactive_since."""
    accounts = visibility.accounts_for(actor).alive().select_related("owner")
    return apply_filters(accounts, filters, _FILTERS, actor)


def account_get(*, account_id: int, include_deleted: bool = False, include_merged: bool = False) -> Account:
    """One account; a merged one only with `include_merged` (its detail URL answers with the survivor)."""
    accounts = Account.objects.select_related("owner")
    if not include_deleted:
        accounts = accounts.filter(deleted_at__isnull=True)
    if not include_merged:
        accounts = accounts.filter(merged_into__isnull=True)
    account = accounts.filter(pk=account_id).first()
    if account is None:
        raise AccountNotFound(id=account_id)
    return account


def account_status_history(*, account: Account) -> QuerySet[AccountStatusChange]:
    """The account's lifecycle status changes with their actors joined."""
    return AccountStatusChange.objects.filter(account=account).select_related("actor")
