"""Filtering on custom values: one SQL expression per field type, used both by the per-field index
(tenant_apps.customfields.indexes) and by every query that filters on the field (list filters, segments,
rules), so the planner matches them and the index serves the filter.

    number            (custom ->> 'key')::numeric
    money             ((custom -> 'key') ->> 'amount')::numeric
    multi_select      (custom -> 'key')                  (GIN, containment: @> '["<option id>"]')
    everything else   (custom ->> 'key')                 (text; dates and datetimes are fixed-width ISO
                                                          text, so text order is time order; text casts to
                                                          date would not be IMMUTABLE, so cannot be indexed)

Keys are checked on definition (`KEY_RE`) and written into the SQL as literals: a parameter would not
match the index expression."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Q
from django.db.models.lookups import Exact, GreaterThanOrEqual, In, IsNull, LessThan, LessThanOrEqual

from tenant_apps.customfields.models import CustomField, FieldKind

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
NUMERIC = (FieldKind.NUMBER, FieldKind.MONEY)
Less = LessThan


def _literal(key: str) -> str:
    if not KEY_RE.match(key):  # never reached for a stored definition
        raise ValueError(f"bad custom field key {key!r}")
    return f"'{key}'"


def value_sql(kind: str, key: str, column: str = '"custom"') -> str:
    """The indexed expression of a field over `column` (quoted, possibly table-qualified)."""
    literal = _literal(key)
    if kind == FieldKind.NUMBER:
        return f"(({column} ->> {literal})::numeric)"
    if kind == FieldKind.MONEY:
        return f"((({column} -> {literal}) ->> 'amount')::numeric)"
    if kind == FieldKind.MULTI_SELECT:
        return f"({column} -> {literal})"
    return f"({column} ->> {literal})"


class CustomValue(models.Expression):
    """The field's value expression in a query, the same SQL as its index's."""

    def __init__(self, kind: str, key: str) -> None:
        output: models.Field[Any, Any]
        if kind in NUMERIC:
            output = models.DecimalField()
        elif kind == FieldKind.MULTI_SELECT:
            output = models.JSONField()
        else:
            output = models.TextField()
        super().__init__(output_field=output)
        self.kind, self.key = kind, key
        _literal(key)

    def __repr__(self) -> str:
        return f"CustomValue({self.kind!r}, {self.key!r})"

    def resolve_expression(self, query: Any = None, *args: Any, **kwargs: Any) -> CustomValue:
        clone = self.copy()
        clone.column = models.F("custom").resolve_expression(query, *args, **kwargs)  # type: ignore[attr-defined]
        return clone

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        column_sql, params = compiler.compile(self.column)  # type: ignore[attr-defined]
        return value_sql(self.kind, self.key, column_sql), tuple(params)


def stored_text(field: CustomField, value: Any) -> Any:
    """A cleaned value in the terms of its expression: numbers as Decimal, booleans and members as the
    text ->> gives them."""
    if field.type in NUMERIC:
        return Decimal(value["amount"] if isinstance(value, dict) else value)
    if field.type == FieldKind.BOOLEAN:
        return "true" if value else "false"
    return str(value)


def equals_q(field: CustomField, value: Any) -> Q:
    """The field holds `value` (cleaned as stored); for a multi select: holds that option among others."""
    expression = CustomValue(field.type, field.key)
    if field.type == FieldKind.MULTI_SELECT:
        return Q(_Contains(expression, [value] if isinstance(value, str) else list(value)))
    return Q(Exact(expression, stored_text(field, value)))


def in_q(field: CustomField, values: list[Any]) -> Q:
    expression = CustomValue(field.type, field.key)
    return Q(In(expression, [stored_text(field, value) for value in values]))


def range_q(field: CustomField, low: Any = None, high: Any = None) -> Q:
    """low <= value <= high (either bound may be None); values as stored (dates as ISO text)."""
    expression = CustomValue(field.type, field.key)
    query = Q()
    if low is not None:
        query &= Q(GreaterThanOrEqual(expression, low))
    if high is not None:
        query &= Q(LessThanOrEqual(expression, high))
    return query


def empty_q(field: CustomField) -> Q:
    return Q(IsNull(CustomValue(field.type, field.key), True))


class _Contains(models.lookups.Lookup):
    """jsonb @> jsonb, served by the field's GIN index."""

    lookup_name = "cf_contains"

    def __init__(self, lhs: Any, rhs: list[str]) -> None:
        import json

        super().__init__(lhs, models.Value(json.dumps(rhs)))

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} @> ({rhs})::jsonb", (*lhs_params, *rhs_params)
