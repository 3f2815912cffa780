"""The list filters every customer record (lead, account, contact, opportunity) shares, and the plumbing that
applies a record type's filter table to a queryset; where a merged record went."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models
from django.db.models import QuerySet

from shared_apps.users.models import User

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
    # custom.<key> parameters, as one Q (tenant_apps.customfields.filters)
    "custom": lambda records, value, actor: records.filter(value),
}


def apply_filters(
    records: QuerySet[Any], filters: dict[str, Any] | None, table: dict[str, Filter], actor: User | None
) -> QuerySet[Any]:
    for key, value in (filters or {}).items():
        if value in (None, "", []):
            continue
        records = table[key](records, value, actor)
    return records


MAX_HOPS = 20


def merged_into(*, model: type[models.Model], record_id: int) -> int | None:
    """The survivor a (not deleted) tombstone leads to, or None when it is no tombstone.

    A survivor may itself be merged later (A into B, then B into C): the chain is followed to its end here,
    by primary key, rather than repointed at merge time (merged_into has no index to find the tombstones
    pointing at a record)."""
    survivor_id = None
    for _hop in range(MAX_HOPS):
        into = (
            model._default_manager.filter(pk=record_id, deleted_at__isnull=True)
            .values_list("merged_into_id", flat=True)
            .first()
        )
        if into is None:
            break
        survivor_id = record_id = into
    return survivor_id
