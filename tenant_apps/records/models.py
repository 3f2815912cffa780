"""The base every customer record (lead, account, contact, opportunity) builds on."""

from __future__ import annotations

from typing import TypeVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

_M = TypeVar("_M", bound=models.Model)


class AliveQuerySet(models.QuerySet[_M]):
    def alive(self) -> AliveQuerySet[_M]:
        """Neither soft-deleted nor merged into another record."""
        return self.filter(deleted_at__isnull=True, merged_into__isnull=True)


def ordering_indexes(prefix: str, fields: tuple[str, ...]) -> list[models.Index]:
    """One index per ordering the API offers on a record list (`?ordering=<field>`, ascending or
    descending: a btree is read either way): the field then the id, as the cursor pages, over live rows
    only, so a page at any depth is an index range scan, never a sort of every row."""
    return [
        models.Index(
            fields=[field, "id"],
            name=f"{prefix}_by_{field}_idx"[:30],
            condition=models.Q(deleted_at__isnull=True, merged_into__isnull=True),
        )
        for field in fields
    ]


class CustomerRecord(models.Model):
    """Owner, tags, timestamps, soft delete and merge tombstone, as every record type has them."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Set when merged into another record of the same type: the row stays as a tombstone pointing there.
    # (no index: nearly every row is NULL here, and a NULL-heavy index only misleads the planner)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    merged_at = models.DateTimeField(null=True, blank=True)
    # The organization's own fields (tenant_apps.customfields): {"<key>": value}. A database default too, so
    # the set-based writers (imports' INSERT ... SELECT, COPY) need not name it.
    custom = models.JSONField(default=dict, blank=True, db_default=models.Value({}, models.JSONField()))

    objects = AliveQuerySet.as_manager()

    class Meta:
        abstract = True
