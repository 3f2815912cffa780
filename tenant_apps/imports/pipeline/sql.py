# ruff: noqa: S608  (SQL is built from model table names, quoted identifiers and quote()d literals only)
"""SQL helpers the pipeline's steps share: quoting, running statements, INSERT ... SELECT column lists."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models

from shared_apps.core.db import connection
from tenant_apps.accounts.models import Account
from tenant_apps.imports.expressions import quote
from tenant_apps.imports.models import RecordType

ANCHORS = {
    RecordType.LEAD: "lead_id",
    RecordType.CONTACT: "contact_id",
    RecordType.ACCOUNT: "account_id",
    RecordType.OPPORTUNITY: "opportunity_id",
}
# record types on an account: their activities carry its id too and move its last_activity_at forward
ON_ACCOUNT = (RecordType.CONTACT, RecordType.OPPORTUNITY)
DERIVED = ("phone_normalized", "identity_key")  # recomputed from other columns, never listed as changes


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def timestamp(value: datetime) -> str:
    return f"{quote(value.isoformat())}::timestamptz"


def execute(sql: str, params: Any = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetchall(sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _default(field: models.Field) -> str:
    """A column's model default as a typed SQL literal (for the columns an import does not fill)."""
    db_type = field.db_type(connection)
    value = field.get_default()
    if value is None:
        return f"NULL::{db_type}"
    if isinstance(field, models.JSONField):
        return f"{quote(json.dumps(value))}::jsonb"
    if isinstance(value, list | tuple):
        return f"{quote(list(value))}::{db_type}" if value else f"'{{}}'::{db_type}"
    if isinstance(value, datetime):
        return f"{timestamp(value)}"
    if isinstance(value, date):
        return f"{quote(value.isoformat())}::date"
    if isinstance(value, bool | int | Decimal | str):
        return f"{quote(value)}::{db_type}"
    raise TypeError(f"no SQL literal for the default of {field}")


def insert_columns(model: type[models.Model], provided: dict[str, str]) -> tuple[str, str]:
    """(columns, values) for INSERT ... SELECT: `provided` maps columns to SQL; every other column gets its
    model default, so a column another app adds to the model later is filled too."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or getattr(field, "generated", False):
            continue
        columns.append(ident(str(field.column)))
        values.append(provided[field.column] if field.column in provided else _default(field))
    unknown = set(provided) - {field.column for field in model._meta.concrete_fields}
    assert not unknown, f"no such columns on {model.__name__}: {unknown}"
    return ", ".join(columns), ", ".join(values)


def touch_accounts(ids: str, at: str) -> str:
    """activity_record's rule in bulk: an activity on an account's contact moves its last_activity_at
    forward."""
    accounts = ident(Account._meta.db_table)
    return (
        f"UPDATE {accounts} x SET last_activity_at = {at} WHERE x.id IN ({ids}) "
        f"AND (x.last_activity_at IS NULL OR x.last_activity_at < {at})"
    )
