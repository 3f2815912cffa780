# ruff: noqa: S608  (SQL is built from model table names, quoted identifiers and quote()d literals only)
"""Reverting: what an import created removed and what it updated restored, a batch of row numbers at a
time."""

from __future__ import annotations

from datetime import datetime

from shared_apps.core.db import connection
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.imports.expressions import quote
from tenant_apps.imports.fields import Context
from tenant_apps.imports.models import ImportChange, RecordType
from tenant_apps.imports.pipeline.sql import (
    DERIVED,
    ON_ACCOUNT,
    execute,
    fetchall,
    ident,
    timestamp,
    touch_accounts,
)
from tenant_apps.imports.pipeline.tables import Tables
from tenant_apps.records import normalize


class Reverting(Tables):
    """A revert, a batch of row numbers at a time."""

    def revert_batch(self, low: int, high: int, *, actor_id: int | None, now: datetime) -> dict[str, int]:
        """Undo the changes low < id <= high: created records soft-deleted (with a SYSTEM "deleted" activity,
        as lead_delete writes), updated records given back the values they had before the import, field by
        field, where the field still holds what the import wrote (a later change wins: a conflict)."""
        spec, run = self.spec, self.run
        at = timestamp(now)
        table, changes = ident(spec.table), ident(ImportChange._meta.db_table)
        activities = ident(Activity._meta.db_table)
        contact = run.record_type in ON_ACCOUNT
        in_range = f"c.import_run_id = {run.pk} AND c.id > {low} AND c.id <= {high}"
        alive = "r.deleted_at IS NULL AND r.merged_into_id IS NULL"
        via = f"'import_id', {run.pk}, 'via', 'import_revert'"

        columns, values = self.activity(
            record="d.id",
            account="d.account_id" if contact else None,
            type=ActivityType.SYSTEM,
            subject=quote(f"{spec.label} deleted"),
            metadata=f"jsonb_build_object('event', 'deleted', {via})",
            now=at,
            actor_id=actor_id,
        )
        touch = f", t AS ({touch_accounts('SELECT account_id FROM d', at)})" if contact else ""
        removed = execute(
            f"WITH d AS (UPDATE {table} r SET deleted_at = {at}, updated_at = {at} FROM {changes} c, "
            f"unnest(c.record_ids) AS o(id) WHERE {in_range} AND c.kind = 'created' AND r.id = o.id "
            f"AND {alive} RETURNING r.id{', r.account_id' if contact else ''}){touch} "
            f"INSERT INTO {activities} ({columns}) SELECT {values} FROM d"
        )

        fetchall(
            f"SELECT r.id FROM {table} r JOIN {changes} c ON r.id = c.record_id WHERE {in_range} "
            f"AND c.kind = 'updated' AND {alive} ORDER BY r.id FOR UPDATE OF r"
        )
        derived = ", ".join(quote(column) for column in DERIVED)
        execute("DROP TABLE IF EXISTS imports_revert")
        execute(
            "CREATE TEMP TABLE imports_revert AS SELECT r.id, c.before, c.after, "
            "(SELECT coalesce(jsonb_object_agg(k, c.before -> k), '{}'::jsonb) "
            f"FROM jsonb_object_keys(c.after) AS k WHERE k NOT IN ({derived}) "
            "AND to_jsonb(r) -> k = c.after -> k) AS patch, "
            "(SELECT count(*) FROM jsonb_object_keys(c.after) AS k "
            f"WHERE k NOT IN ({derived}) AND to_jsonb(r) -> k IS DISTINCT FROM c.after -> k) AS conflicts "
            f"FROM {changes} c JOIN {table} r ON r.id = c.record_id "
            f"WHERE {in_range} AND c.kind = 'updated' AND {alive}"
        )
        restored, conflicts = fetchall(
            "SELECT count(*) FILTER (WHERE patch <> '{}'), coalesce(sum(conflicts), 0) FROM imports_revert"
        )[0]
        if restored:
            full = Context(run.pk, set(spec.fields), None, [], "USD", None, custom=self.custom)
            restorable = [c.column for c in spec.updates(full) if not c.derived and c.column not in DERIVED]
            sets = ", ".join(
                f"{ident(column)} = CASE WHEN v.patch ? {quote(column)} THEN (v.rec).{ident(column)} "
                f"ELSE r.{ident(column)} END"
                for column in restorable
            )
            if run.record_type == RecordType.ACCOUNT:
                sets += f", last_activity_at = greatest(coalesce(r.last_activity_at, {at}), {at})"
            execute(
                f"UPDATE {table} r SET {sets}, updated_at = {at} FROM (SELECT id, patch, "
                f"jsonb_populate_record(NULL::{table}, patch) AS rec FROM imports_revert "
                "WHERE patch <> '{}' OFFSET 0) v WHERE r.id = v.id"
            )
            recompute = spec.recompute()
            if recompute:
                assignments = ", ".join(
                    f"{ident(column)} = {expression}" for column, expression in recompute.items()
                )
                execute(
                    f"UPDATE {table} r SET {assignments} "
                    "WHERE r.id IN (SELECT id FROM imports_revert WHERE patch <> '{}')"
                )
            if run.record_type in (RecordType.LEAD, RecordType.CONTACT):
                # normalize.phone (libphonenumber) has no SQL form: the restored numbers, normalized here
                region = normalize.phone_region()
                restored_phones = fetchall(
                    f"SELECT r.id, r.phone FROM {table} r "
                    "WHERE r.id IN (SELECT id FROM imports_revert WHERE patch ? 'phone')"
                )
                with connection.cursor() as cursor:
                    cursor.executemany(
                        f"UPDATE {table} SET phone_normalized = %s WHERE id = %s",
                        [(normalize.phone_or_blank(phone, region), pk) for pk, phone in restored_phones],
                    )
            shown = (
                "(SELECT jsonb_object_agg(regexp_replace(k, '_id$', ''), jsonb_build_array("
                "CASE WHEN k = 'value' THEN to_jsonb(v.after ->> k) ELSE v.after -> k END, "
                "CASE WHEN k = 'value' THEN to_jsonb(v.before ->> k) ELSE v.before -> k END)) "
                "FROM jsonb_object_keys(v.patch) AS k WHERE k <> 'owner_id')"
            )
            account = "r.account_id" if contact else None
            columns, values = self.activity(
                record="v.id",
                account=account,
                type=ActivityType.SYSTEM,
                subject=quote(f"{spec.label} updated"),
                metadata=f"jsonb_build_object('event', 'updated', 'changes', {shown}, {via})",
                now=at,
                actor_id=actor_id,
            )
            execute(
                f"INSERT INTO {activities} ({columns}) SELECT {values} FROM imports_revert v "
                f"JOIN {table} r ON r.id = v.id WHERE v.patch - 'owner_id' <> '{{}}'"
            )
            columns, values = self.activity(
                record="v.id",
                account=account,
                type=ActivityType.OWNER_CHANGE,
                subject="'Owner changed'",
                metadata="jsonb_build_object('from', v.after -> 'owner_id', 'to', v.before -> 'owner_id', "
                f"{via})",
                now=at,
                actor_id=actor_id,
            )
            execute(
                f"INSERT INTO {activities} ({columns}) SELECT {values} FROM imports_revert v "
                f"JOIN {table} r ON r.id = v.id WHERE v.patch ? 'owner_id'"
            )
            if contact:
                execute(
                    touch_accounts(
                        "SELECT r.account_id FROM imports_revert v JOIN "
                        f"{table} r ON r.id = v.id WHERE v.patch <> '{{}}'",
                        at,
                    )
                )
        execute("DROP TABLE imports_revert")
        return {"removed": removed, "restored": restored, "conflicts": int(conflicts)}
