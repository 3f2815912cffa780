"""The OpenAPI schema of an organization's host shows that organization's custom fields: a drf-spectacular
postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]) replaces each record schema's `custom`
object (marked `x-custom-fields: <record type>` by tenant_apps.records.api.serializers) with the fields the
organization being served defines, read from its own schema. Generated anywhere else (the root domain, the
`spectacular` command) the objects stay generic. Never another organization's: the definitions are read
through the connection, which serves the requesting host's organization only."""

from __future__ import annotations

from typing import Any

from django_tenants.utils import get_public_schema_name

from shared_apps.core.db import connection
from tenant_apps.customfields.models import CustomField, FieldKind
from tenant_apps.customfields.values import MAX_LONG_TEXT, MAX_TEXT, MAX_URL, currencies, definitions

MARKER = "x-custom-fields"
DECIMAL = {"type": "string", "format": "decimal", "pattern": r"^-?\d+(\.\d+)?$"}


def field_schema(field: CustomField, currency_codes: list[str]) -> dict[str, Any]:
    kind = field.type
    schema: dict[str, Any]
    if kind in (FieldKind.TEXT, FieldKind.PHONE):
        schema = {"type": "string", "maxLength": MAX_TEXT}
    elif kind == FieldKind.LONG_TEXT:
        schema = {"type": "string", "maxLength": MAX_LONG_TEXT}
    elif kind == FieldKind.URL:
        schema = {"type": "string", "format": "uri", "maxLength": MAX_URL}
    elif kind == FieldKind.EMAIL:
        schema = {"type": "string", "format": "email"}
    elif kind == FieldKind.NUMBER:
        schema = dict(DECIMAL)
    elif kind == FieldKind.MONEY:
        schema = {
            "type": "object",
            "properties": {"amount": dict(DECIMAL), "currency": {"type": "string", "enum": currency_codes}},
            "required": ["amount"],
        }
    elif kind == FieldKind.DATE:
        schema = {"type": "string", "format": "date"}
    elif kind == FieldKind.DATETIME:
        schema = {"type": "string", "format": "date-time"}
    elif kind == FieldKind.BOOLEAN:
        schema = {"type": "boolean"}
    elif kind == FieldKind.MEMBER:
        schema = {"type": "integer", "description": "a member's id"}
    else:
        ids = [option["id"] for option in field.options]
        one: dict[str, Any] = {"type": "string", "enum": ids}
        schema = (
            {"type": "array", "items": one, "uniqueItems": True} if kind == FieldKind.MULTI_SELECT else one
        )
        labels = ", ".join(f"{option['id']} = {option['label']}" for option in field.options)
        schema["description"] = f"option ids (or labels, on input): {labels}"
    schema["title"] = field.label
    schema["nullable"] = True  # on writes, null clears the value
    return schema


def _record_schema(record_type: str, generic: dict[str, Any]) -> dict[str, Any]:
    fields = definitions(record_type)
    codes = sorted(currencies()) if any(field.type == FieldKind.MONEY for field in fields) else []
    return {
        "type": "object",
        "description": generic.get("description", ""),
        "properties": {field.key: field_schema(field, codes) for field in fields},
        "required": [],
        "additionalProperties": False,
    }


def custom_fields_hook(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    serving = connection.schema_name not in (None, "", get_public_schema_name())
    for component in result.get("components", {}).get("schemas", {}).values():
        for name, prop in list(component.get("properties", {}).items()):
            if not isinstance(prop, dict) or MARKER not in prop:
                continue
            record_type = prop.pop(MARKER)
            if serving:
                component["properties"][name] = _record_schema(record_type, prop)
    return result
