"""What a condition may name: per record type, a whitelist of fields with their types. A condition names a
whitelisted field, never a column or lookup of its own."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tenant_apps.accounts.models import AccountSize, AccountStatus
from tenant_apps.leads.models import Source, Stage
from tenant_apps.opportunities.models import OpportunityStage


class FieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"
    TAGS = "tags"
    OWNER = "owner"  # the id of a member
    REFERENCE = "reference"  # the id of a related record (a contact's account, ...)


@dataclass(frozen=True)
class Field:
    type: FieldType
    column: str
    choices: tuple[str, ...] = ()
    nullable: bool = False
    blank: bool = False  # a choice that may be "" (unset)
    integer: bool = False
    # a custom field's key (tenant_apps.customfields): `column` is then a path into the record's `custom`
    # values whose SQL is the field's indexed expression, and the record's value is read from `custom`
    custom_key: str = ""
    custom_kind: str = ""

    @property
    def can_be_empty(self) -> bool:
        return self.nullable or self.blank or self.type in (FieldType.STRING, FieldType.TAGS, FieldType.OWNER)


def _string(column: str) -> Field:
    return Field(FieldType.STRING, column)


def _datetime(column: str, nullable: bool = False) -> Field:
    return Field(FieldType.DATETIME, column, nullable=nullable)


def _choice(column: str, choices: list[str], blank: bool = False) -> Field:
    return Field(FieldType.CHOICE, column, choices=tuple(choices), blank=blank)


_COMMON = {
    "name": _string("name"),
    "owner": Field(FieldType.OWNER, "owner_id", nullable=True),
    "tags": Field(FieldType.TAGS, "tags"),
    "created_at": _datetime("created_at"),
    "updated_at": _datetime("updated_at"),
}

# Record types are the segments' RecordType values (plain strings here: this module sits below segments).
FIELDS: dict[str, dict[str, Field]] = {
    "lead": {
        **_COMMON,
        "email": _string("email"),
        "phone": _string("phone"),
        "company": _string("company"),
        "currency": _string("currency"),
        "source": _choice("source", Source.values),
        "stage": _choice("stage", Stage.values),
        "value": Field(FieldType.NUMBER, "value"),
        "score": Field(FieldType.NUMBER, "score", integer=True),
        "stage_changed_at": _datetime("stage_changed_at"),
        "last_contacted_at": _datetime("last_contacted_at", nullable=True),
        "converted_at": _datetime("converted_at", nullable=True),
    },
    "contact": {
        **_COMMON,
        "email": _string("email"),
        "phone": _string("phone"),
        "title": _string("title"),
        "account": Field(FieldType.REFERENCE, "account_id", nullable=True),
        "last_contacted_at": _datetime("last_contacted_at", nullable=True),
    },
    "account": {
        **_COMMON,
        "domain": _string("domain"),
        "industry": _string("industry"),
        "size": _choice("size", AccountSize.values, blank=True),
        "status": _choice("status", AccountStatus.values),
        "last_activity_at": _datetime("last_activity_at", nullable=True),
    },
    "opportunity": {
        **_COMMON,
        "currency": _string("currency"),
        "close_reason": _string("close_reason"),
        "stage": _choice("stage", OpportunityStage.values),
        "amount": Field(FieldType.NUMBER, "amount"),
        "probability": Field(FieldType.NUMBER, "probability", integer=True),
        "expected_close_date": Field(FieldType.DATE, "expected_close_date", nullable=True),
        "closed_at": _datetime("closed_at", nullable=True),
        "account": Field(FieldType.REFERENCE, "account_id"),
        "primary_contact": Field(FieldType.REFERENCE, "primary_contact_id", nullable=True),
    },
}


def custom_field_spec(kind: str, key: str, option_ids: tuple[str, ...] = ()) -> Field | None:
    """The filter language's view of a custom field of `kind` (tenant_apps.customfields.models.FieldKind),
    or None for a kind conditions cannot name (long text). The lookups `cf_text` / `cf_number` /
    `cf_amount` (registered on JSON key paths by tenant_apps.customfields.lookups) render the field's
    indexed expression, so a segment or rule condition is served by the same index as the list filter."""
    base = f"custom__{key}"

    def spec(kind_: FieldType, lookup: str, **extra: Any) -> Field:
        column = f"{base}__{lookup}" if lookup else base
        return Field(kind_, column, nullable=True, custom_key=key, custom_kind=kind, **extra)

    if kind in ("text", "url", "email", "phone"):
        return spec(FieldType.STRING, "cf_text")
    if kind == "number":
        return spec(FieldType.NUMBER, "cf_number")
    if kind == "money":
        return spec(FieldType.NUMBER, "cf_amount")
    if kind == "date":
        return spec(FieldType.DATE, "cf_date")
    if kind == "datetime":
        return spec(FieldType.DATETIME, "cf_datetime")
    if kind == "boolean":
        return spec(FieldType.CHOICE, "cf_text", choices=("true", "false"))
    if kind == "single_select":
        return spec(FieldType.CHOICE, "cf_text", choices=option_ids)
    if kind == "multi_select":
        return spec(FieldType.TAGS, "")
    if kind == "member":
        return spec(FieldType.OWNER, "cf_text")
    return None


def fields_for(record_type: str) -> dict[str, Field]:
    """The record type's whitelist with the organization's custom fields as `custom.<key>` entries."""
    from tenant_apps.customfields.values import definitions  # the organization's, read per request

    fields = dict(FIELDS[record_type])
    for definition in definitions(record_type):
        spec = custom_field_spec(
            definition.type, definition.key, tuple(option["id"] for option in definition.options)
        )
        if spec is not None:
            fields[f"custom.{definition.key}"] = spec
    return fields


def field_named(record_type: str, name: str) -> Field | None:
    """One entry of the whitelist by name: the organization's definitions are read only for a custom one
    (a condition on built-in fields needs no database)."""
    if name in FIELDS[record_type]:
        return FIELDS[record_type][name]
    if not name.startswith("custom."):
        return None
    return fields_for(record_type).get(name)
