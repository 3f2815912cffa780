"""The base every customer record (lead, account, contact, opportunity) builds on."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Self, TypeVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from shared_apps.core.search import first_word_key, prefix_key, rest_key

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


def prefix_indexes(prefix: str, *, person: str = "", whole: tuple[str, ...] = ()) -> list[models.Index]:
    """Search's type-ahead keys over live rows (shared_apps.core.search): for a person's name (`person`),
    (first word, rest) and the rest alone ("sof no" and "nov" alike), for other fields the whole key: the
    records a text begins are a b-tree range read in key order, its first k rows found without reading
    every match (a GIN index builds the bitmap of all of a common word's rows before any LIMIT)."""
    alive = models.Q(deleted_at__isnull=True, merged_into__isnull=True)
    indexes = []
    if person:
        indexes += [
            models.Index(
                first_word_key(person),
                rest_key(person),
                name=f"{prefix}_{person}_prefix"[:30],
                condition=alive,
            ),
            models.Index(rest_key(person), name=f"{prefix}_{person}_rest_prefix"[:30], condition=alive),
        ]
    indexes += [
        models.Index(prefix_key(field), name=f"{prefix}_{field}_prefix"[:30], condition=alive)
        for field in whole
    ]
    return indexes


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

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> Self:
        """A row read into an instance as Model.from_db makes it, without Model.__init__'s generic walk (a
        setattr through each field's descriptor, which has nothing to do on a fresh instance, and the init
        signals' sends): a list page builds 50 records. The same instance: `_state` first, then every
        concrete field's attname in order. Deferred fields (and init signal receivers) take Django's path."""
        attnames = _attnames.get(cls)
        if attnames is None:
            attnames = _attnames[cls] = tuple(field.attname for field in cls._meta.concrete_fields)
        if (
            kwargs
            or len(values) != len(attnames)
            or pre_init.has_listeners(cls)
            or post_init.has_listeners(cls)
        ):
            return super().from_db(db, field_names, values, **kwargs)
        new = cls.__new__(cls)
        state = new._state = ModelState()
        new.__dict__.update(zip(attnames, values, strict=True))
        state.adding = False
        state.db = db
        return new


_attnames: dict[type[models.Model], tuple[str, ...]] = {}
