"""Reads on accounts with their rules: deleted and merged accounts are invisible unless asked for."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from shared_apps.users.models import User
from tenant_apps.accounts.exceptions import AccountNotFound
from tenant_apps.accounts.models import Account, AccountStatusChange
from tenant_apps.records import visibility
from tenant_apps.records.selectors import COMMON_FILTERS, Filter, apply_filters

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
