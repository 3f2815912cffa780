# ruff: noqa: S608  (SQL is built from checked field keys, model table names and quote()d literals only)
"""Custom fields (tenant_apps.customfields) in imports and exports.

Imports: a column maps to `custom.<key>` (explicitly, or by a header equal to the key, `custom.<key>` or the
field's label). Each cell is read as a CSV holds it (booleans as true/false/yes/no/1/0, multi selects as
labels separated by ';', money as "12.50 EUR" or an amount in the organization's base currency, members by
email or id) and cleaned by the same function as the API (customfields.values.clean_value), in Python as the
file is read: the staged row holds the stored value as JSON text, or the reason it is wrong. The plan then
builds the record's `custom` object set-based; an update merges the given values into the record's.

Exports: one column per field, `custom.<key>`, in the form an import reads back (select labels, member
emails, "amount currency")."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from shared_apps.core.errors import InvalidInput
from shared_apps.users.models import User
from tenant_apps.customfields.models import CustomField, FieldKind
from tenant_apps.customfields.values import clean_value, definitions
from tenant_apps.imports import csvio
from tenant_apps.imports.expressions import quote, unescaped_cell

PREFIX = "custom."
RECORD_TYPES = {"lead", "contact", "account", "opportunity"}
EXPORT_TYPES = {"leads": "lead", "contacts": "contact", "accounts": "account", "opportunities": "opportunity"}
TRUE = {"true", "yes", "y", "1", "x"}
FALSE = {"false", "no", "n", "0"}
# free text an export escapes against spreadsheet formulas (select labels too: an admin chose them)
ESCAPED = {
    FieldKind.TEXT,
    FieldKind.LONG_TEXT,
    FieldKind.URL,
    FieldKind.EMAIL,
    FieldKind.PHONE,
    FieldKind.SINGLE_SELECT,
    FieldKind.MULTI_SELECT,
}
JSON_PAIRS = 40  # jsonb_build_object takes at most 100 arguments


def fields(record_type: str) -> dict[str, CustomField]:
    """`custom.<key>` -> definition, for the record types that have custom fields."""
    if record_type not in RECORD_TYPES:
        return {}
    return {f"{PREFIX}{field.key}": field for field in definitions(record_type)}


def header_match(record_type: str, key: str) -> str | None:
    """The custom field a header (csvio.header_key form) names: its key, custom.<key> or its label."""
    for name, field in fields(record_type).items():
        if key in {csvio.header_key(name), csvio.header_key(field.key), csvio.header_key(field.label)}:
            return name
    return None


def required(record_type: str) -> list[str]:
    return [name for name, field in fields(record_type).items() if field.required]


@dataclass(frozen=True)
class Mapped:
    """A mapped custom field of one import: its staged columns are c_<column> (the value as JSON text, ''
    when blank) and c_<column>_bad (why the cell is wrong, '' when it is not)."""

    name: str  # custom.<key>
    field: CustomField

    @property
    def column(self) -> str:
        return f"cf{self.field.pk}"


def mapped(record_type: str, mapping: dict[str, int]) -> list[Mapped]:
    return [Mapped(name, field) for name, field in fields(record_type).items() if name in mapping]


class CellReader:
    """Cells of the mapped custom fields into (JSON text, problem) pairs."""

    def __init__(self, columns: list[Mapped], *, currency: str) -> None:
        self.columns = columns
        self.currency = currency
        self.members: dict[str, int] = {}
        if any(column.field.type == FieldKind.MEMBER for column in columns):
            for pk, email in User.objects.filter(is_active=True).values_list("pk", "email"):
                self.members[email.lower()] = pk
                self.members[str(pk)] = pk

    def read(self, cells: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for column, cell in zip(self.columns, cells, strict=True):
            out.extend(self._one(column.field, cell))
        return tuple(out)

    def _one(self, field: CustomField, cell: str) -> tuple[str, str]:
        cell = unescaped_cell(cell.strip())
        if not cell:
            return "", ""
        if field.type == FieldKind.MEMBER:  # resolved from the members read once, not a query a cell
            member = self.members.get(cell.lower())
            return (str(member), "") if member else ("", "Not an active member of this organization.")
        try:
            value = clean_value(field, self._input(field, cell))
        except InvalidInput as error:
            return "", error.message
        return json.dumps(value, separators=(",", ":")), ""

    def _input(self, field: CustomField, cell: str) -> Any:
        kind = field.type
        if kind == FieldKind.BOOLEAN:
            folded = cell.casefold()
            return True if folded in TRUE else False if folded in FALSE else cell
        if kind == FieldKind.MULTI_SELECT:
            return [part.strip() for part in cell.split(";") if part.strip()]
        if kind == FieldKind.MONEY:
            match = re.fullmatch(r"(?:([A-Za-z]{3})\s*)?([-+]?[\d.]+)(?:\s*([A-Za-z]{3}))?", cell)
            if match is None or (match.group(1) and match.group(3)):
                return {"amount": cell}
            return {"amount": match.group(2), "currency": (match.group(1) or match.group(3) or self.currency)}
        return cell


def values_sql(columns: list[Mapped]) -> str:
    """The `custom` object of a staged row (over r_<column>): the given values only."""
    pairs = [f"{quote(column.field.key)}, NULLIF(r_{column.column}, '')::jsonb" for column in columns]
    parts = [
        f"jsonb_build_object({', '.join(pairs[at : at + JSON_PAIRS])})"
        for at in range(0, len(pairs), JSON_PAIRS)
    ]
    return f"jsonb_strip_nulls({' || '.join(parts)})" if parts else "'{}'::jsonb"


# --- exports ---------------------------------------------------------------------------------------------


def export_columns(export_type: str) -> list[tuple[str, str]]:
    """(header, SQL over the record `r`) of each custom field of an export's record type."""
    record_type = EXPORT_TYPES.get(export_type)
    if record_type is None:
        return []
    return [(name, _export_sql(field)) for name, field in fields(record_type).items()]


def _label_case(field: CustomField, expression: str) -> str:
    if not field.options:
        return "NULL"
    whens = " ".join(f"WHEN {quote(option['id'])} THEN {quote(option['label'])}" for option in field.options)
    return f"CASE {expression} {whens} END"


def _export_sql(field: CustomField) -> str:
    key = quote(field.key)
    text = f"(r.custom ->> {key})"
    kind = field.type
    if kind == FieldKind.MONEY:
        sql = f"((r.custom -> {key}) ->> 'amount') || ' ' || ((r.custom -> {key}) ->> 'currency')"
    elif kind == FieldKind.SINGLE_SELECT:
        sql = _label_case(field, text)
    elif kind == FieldKind.MULTI_SELECT:
        sql = (
            f"array_to_string(ARRAY(SELECT {_label_case(field, 'o.id')} FROM "
            f"jsonb_array_elements_text(CASE WHEN jsonb_typeof(r.custom -> {key}) = 'array' "
            f"THEN r.custom -> {key} END) WITH ORDINALITY AS o(id, n) ORDER BY o.n), ';')"
        )
    elif kind == FieldKind.MEMBER:
        users = User._meta.db_table
        sql = f"(SELECT m.email FROM {users} m WHERE m.id::text = {text})"
    else:
        sql = text
    return csvio.sql_escaped(sql) if kind in ESCAPED or kind == FieldKind.MEMBER else sql
