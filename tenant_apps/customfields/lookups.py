"""Transforms on a JSON key path (`custom__<key>__cf_number`, ...) that render a custom field's indexed
expression (tenant_apps.customfields.queries.value_sql): what the filter language's custom field entries
name (tenant_apps.filtering.fields.custom_field_spec), so segments and rules use the per-field index.
Registered on KeyTransform by CustomFieldsConfig.ready()."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django.db import models
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from tenant_apps.customfields.models import FieldKind
from tenant_apps.customfields.queries import value_sql
from tenant_apps.customfields.values import as_utc_text


class IsoDateText(models.TextField):
    """Text holding YYYY-MM-DD: dates compare as that text."""

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        return super().get_prep_value(value)


class IsoDateTimeText(models.TextField):
    """Text holding a UTC instant, fixed width: instants compare as that text (a date alone: its midnight
    in the zone in force)."""

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return as_utc_text(value)
        if isinstance(value, date):
            return as_utc_text(timezone.make_aware(datetime.combine(value, time.min)))
        return super().get_prep_value(value)


class _CustomTransform(models.Transform):
    kind: str = FieldKind.TEXT

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:  # type: ignore[override]
        key_path = self.lhs
        if not isinstance(key_path, KeyTransform):
            raise ValueError(f"{self.lookup_name} applies to custom__<key> only")
        column_sql, params = compiler.compile(key_path.lhs)
        return value_sql(self.kind, key_path.key_name, column_sql), tuple(params)


class CustomText(_CustomTransform):
    lookup_name = "cf_text"
    kind = FieldKind.TEXT
    output_field = models.TextField()


class CustomNumber(_CustomTransform):
    lookup_name = "cf_number"
    kind = FieldKind.NUMBER
    output_field = models.DecimalField()


class CustomAmount(_CustomTransform):
    lookup_name = "cf_amount"
    kind = FieldKind.MONEY
    output_field = models.DecimalField()


class CustomDate(_CustomTransform):
    lookup_name = "cf_date"
    kind = FieldKind.DATE
    output_field = IsoDateText()


class CustomDateTime(_CustomTransform):
    lookup_name = "cf_datetime"
    kind = FieldKind.DATETIME
    output_field = IsoDateTimeText()


def register() -> None:
    for transform in (CustomText, CustomNumber, CustomAmount, CustomDate, CustomDateTime):
        KeyTransform.register_lookup(transform)
