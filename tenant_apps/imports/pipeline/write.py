# ruff: noqa: S608  (SQL is built from model table names, quoted identifiers and quote()d literals only)
"""Writing: a batch of the plan's row numbers per transaction, which also moves the checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.imports.expressions import NOW, quote
from tenant_apps.imports.fields import UpdateColumn
from tenant_apps.imports.models import ChangeKind, ImportChange, ImportRowError, RecordType
from tenant_apps.imports.pipeline.sql import (
    DERIVED,
    ON_ACCOUNT,
    execute,
    fetchall,
    ident,
    insert_columns,
    timestamp,
    touch_accounts,
)
from tenant_apps.imports.pipeline.tables import Tables
from tenant_apps.records import normalize
from tenant_apps.search import vocabulary


@dataclass
class Counts:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    warnings: int = 0


class Writing(Tables):
    """The plan written, a batch of row numbers at a time."""

    def write_batch(self, low: int, high: int, *, dry_run: bool) -> Counts:
        """Rows low < n <= high: their errors, created records (with CREATED activities) and updates. The
        caller holds the batch's transaction, which also moves the checkpoint."""
        now = timezone.now()
        # The batch and its checkpoint commit together, so a commit lost in a database crash loses both and
        # the import redoes the batch: waiting for the WAL flush buys nothing here.
        execute("SET LOCAL synchronous_commit = off")
        # New GIN entries (the search vector, the trigram and tag indexes) go to each index's pending list
        # and are merged into the index in bulk when it fills: a larger list for the import's batches
        # merges less often (searches read the list meanwhile: the import settles it when it ends).
        pending = settings.IMPORT_GIN_PENDING_LIST_KB
        if pending:
            execute(f"SET LOCAL gin_pending_list_limit = {int(pending)}")
        where = f"p.n > {low} AND p.n <= {high}"
        actions = dict(fetchall(f"SELECT action, count(*) FROM {self.plan} p WHERE {where} GROUP BY action"))
        counts = Counts(skipped=actions.get("skip", 0), failed=actions.get("fail", 0))
        self._errors(f"{where} AND p.action IN ('fail', 'skip')")
        if actions.get("create"):
            counts.imported = actions["create"] if dry_run else self._create(where, now)
            counts.warnings += self._warnings(f"{where} AND p.action = 'create'")
        if actions.get("update"):
            updated, skipped, failed, warned = self._update(where, now, dry_run=dry_run)
            counts.updated += updated
            counts.skipped += skipped
            counts.failed += failed
            counts.warnings += warned
        return counts

    def creates_after(self, checkpoint: int) -> int:
        """The records the plan still creates past the checkpoint."""
        sql = f"SELECT count(*) FROM {self.plan} WHERE n > %s AND action = 'create'"
        return int(fetchall(sql, [checkpoint])[0][0])

    def settle_indexes(self) -> None:
        """The GIN indexes of the written table merge their pending lists now (the entries the import left
        there): searches after the import read the index alone, as before it."""
        execute(
            "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
            "WHERE i.indrelid = %s::regclass AND a.amname = 'gin'",
            [ident(self.spec.table)],
        )

    def words_add(self) -> None:
        """The search vocabulary's words of the records the plan creates, in one statement (bulk mode's
        batches defer them: tenant_apps.search.vocabulary), read from the plan: the values the batches
        write. Words are never removed, so those of rows not written (a cancelled import) only make the
        correction step propose a word that finds nothing, as a deleted record's do."""
        table = self.spec.table
        if table not in vocabulary.SOURCES:
            return
        insert = self.spec.insert(self.ctx)
        columns = ", ".join(f"{insert[column]} AS {column}" for column in vocabulary.SOURCES[table])
        with transaction.atomic():
            # in one process: it runs beside the GIN index builds, each of which has one core; parallel
            # workers took the build's core (1M rows: the search GIN 8.8 -> 11.8 s, nothing gained)
            execute("SET LOCAL max_parallel_workers_per_gather = 0")
            vocabulary.words_add(table, f"SELECT {columns} FROM {self.plan} p WHERE p.action = 'create'")

    def _warnings(self, where: str, *, source: str | None = None) -> int:
        """The written rows' warnings into the row errors; returns how many rows had one."""
        self._errors(
            f"{where} AND p.w_code <> ''",
            source=source,
            code="p.w_code",
            field="p.w_field",
            message="p.w_message",
            skipped="FALSE",
            warning="TRUE",
        )
        table = source or f"{self.plan} p"
        return int(fetchall(f"SELECT count(*) FROM {table} WHERE {where} AND p.w_code <> ''")[0][0])

    def _errors(
        self,
        where: str,
        *,
        source: str | None = None,
        code: str = "p.code",
        message: str = "p.message",
        skipped: str = "p.action = 'skip'",
        field: str = "p.field",
        warning: str = "FALSE",
    ) -> None:
        values = ", ".join(f"{quote(name)}, p.r_{name}" for name in self.fields)
        provided = {
            "import_run_id": str(self.run.pk),
            "line": "p.line",
            "row_number": "p.n",
            "skipped": skipped,
            "warning": warning,
            "code": code,
            "field": field,
            "message": message,
            "values": f"jsonb_build_object({values})",
        }
        columns, exprs = insert_columns(ImportRowError, provided)
        execute(
            f"INSERT INTO {ident(ImportRowError._meta.db_table)} ({columns}) SELECT {exprs} "
            f"FROM {source or self.plan + ' p'} WHERE {where} ORDER BY p.n"
        )

    def _create(self, where: str, now: datetime) -> int:
        spec, ctx = self.spec, self.ctx
        at = timestamp(now)
        provided = {column: value.replace(NOW, at) for column, value in spec.insert(ctx).items()}
        columns, values = insert_columns(spec.model, provided)
        metadata = ", ".join(
            [f"{quote(key)}, {value}" for key, value in spec.created_metadata(ctx).items()]
            + [f"'import_id', {self.run.pk}", "'via', 'import'"]
        )
        account = "i.account_id" if self.run.record_type in ON_ACCOUNT else None
        activity_columns, activity_values = self.activity(
            record="i.id",
            account=account,
            type=ActivityType.CREATED,
            subject=f"{quote(spec.label + ' created: ')} || i.name",
            metadata=f"jsonb_build_object({metadata})",
            now=at,
        )
        change_columns, change_values = insert_columns(
            ImportChange,
            {
                "import_run_id": str(self.run.pk),
                "kind": quote(ChangeKind.CREATED),
                "record_ids": "array_agg(i.id)",
            },
        )
        touch = ""
        if account is not None:
            touch = f", t AS ({touch_accounts('SELECT account_id FROM i', at)})"
        activities, changes = ident(Activity._meta.db_table), ident(ImportChange._meta.db_table)
        rows = fetchall(
            f"WITH i AS (INSERT INTO {ident(spec.table)} ({columns}) SELECT {values} FROM {self.plan} p "
            f"WHERE {where} AND p.action = 'create' ORDER BY p.n RETURNING {', '.join(spec.returning)}), "
            f"a AS (INSERT INTO {activities} ({activity_columns}) SELECT {activity_values} FROM i){touch} "
            f"INSERT INTO {changes} ({change_columns}) SELECT {change_values} FROM i HAVING count(*) > 0 "
            "RETURNING cardinality(record_ids)"
        )
        return rows[0][0] if rows else 0

    def _update(self, where: str, now: datetime, *, dry_run: bool) -> tuple[int, int, int, int]:
        """Rows matching an existing record (duplicate policy "update"): the values the file gives replace
        the record's (tags are added); returns (updated, skipped, failed, updated with a warning). Unchanged
        records, records deleted or merged since the plan was made, and tags beyond 20 are reported in the
        row errors."""
        spec, ctx = self.spec, self.ctx
        at = timestamp(now)
        table = ident(spec.table)
        alive = "r.deleted_at IS NULL AND r.merged_into_id IS NULL"
        if not dry_run:
            fetchall(
                f"SELECT r.id FROM {table} r WHERE r.id IN (SELECT p.target FROM {self.plan} p WHERE {where} "
                f"AND p.action = 'update') AND {alive} ORDER BY r.id FOR UPDATE"
            )
        columns = spec.updates(ctx)
        derived = spec.derived_updates()
        inner = [
            f"r.{c.column} AS old_{c.column}, "
            f"CASE WHEN {c.given} THEN {c.new} ELSE r.{c.column} END AS new_{c.column}"
            for c in columns
        ]
        inner += [f"r.{column} AS old_{column}" for column in derived]
        contact = self.run.record_type in ON_ACCOUNT
        if contact:
            inner.append("r.account_id AS cur_account_id")
        raw = "".join(f", p.r_{name}" for name in self.fields)
        level = (
            f"SELECT p.n, p.line, p.w_code, p.w_field, p.w_message, r.id{raw}, {', '.join(inner)} "
            f"FROM {self.plan} p "
            f"JOIN {table} r ON r.id = p.target WHERE {where} AND p.action = 'update' AND {alive}"
        )
        if derived:
            news = ", ".join(f"{expression} AS new_{column}" for column, expression in derived.items())
            level = f"SELECT q.*, {news} FROM ({level}) q"
        every = [*columns, *(UpdateColumn(column, "", "", derived=True) for column in derived)]

        def changed(column: str) -> str:
            return f"(new_{column} IS DISTINCT FROM old_{column})"

        def pieces(side: str, only: list[UpdateColumn]) -> str:
            """The changed columns' values on one side (old/new), as one JSON object."""
            parts = [
                f"CASE WHEN {changed(c.column)} THEN "
                f"jsonb_build_object({quote(c.column)}, {side}_{c.column}) ELSE '{{}}'::jsonb END"
                for c in only
            ]
            return " || ".join(parts) if parts else "'{}'::jsonb"

        listed = [c for c in columns if not c.derived and c.column not in DERIVED and c.column != "owner_id"]
        changes = (
            " || ".join(
                f"CASE WHEN {changed(c.column)} THEN jsonb_build_object("
                f"{quote(c.column.removesuffix('_id'))}, jsonb_build_array({_plain(c, 'old')}, "
                f"{_plain(c, 'new')})) ELSE '{{}}'::jsonb END"
                for c in listed
            )
            or "'{}'::jsonb"
        )
        any_change = " OR ".join(changed(c.column) for c in every)
        outcome = (
            f"CASE WHEN cardinality(new_tags) > {normalize.MAX_TAGS} THEN 'fail' "
            f"WHEN {any_change} THEN 'changed' ELSE 'unchanged' END"
        )
        execute("DROP TABLE IF EXISTS imports_diff")
        execute(
            f"CREATE TEMP TABLE imports_diff AS SELECT s.*, {outcome} AS outcome, "
            f"{pieces('old', every)} AS before, {pieces('new', every)} AS after, {changes} AS changes "
            f"FROM ({level}) s"
        )
        counts = dict(fetchall("SELECT outcome, count(*) FROM imports_diff GROUP BY outcome"))
        gone = fetchall(
            f"SELECT count(*) FROM {self.plan} p WHERE {where} AND p.action = 'update' "
            "AND NOT EXISTS (SELECT FROM imports_diff d WHERE d.n = p.n)"
        )[0][0]
        label = spec.label.lower()
        self._errors(
            "p.outcome IN ('unchanged', 'fail')",
            source="imports_diff p",
            code="CASE p.outcome WHEN 'fail' THEN 'invalid_tags' ELSE 'unchanged' END",
            field="CASE p.outcome WHEN 'fail' THEN 'tags' ELSE '' END",
            message="CASE p.outcome WHEN 'fail' THEN "
            f"'tags: at most {normalize.MAX_TAGS} with the {label}''s own' "
            f"ELSE 'matches {label} #' || p.id || ', which already has these values' END",
            skipped="p.outcome = 'unchanged'",
        )
        if gone:
            self._errors(
                f"{where} AND p.action = 'update' "
                "AND NOT EXISTS (SELECT FROM imports_diff d WHERE d.n = p.n)",
                code="'duplicate'",
                message=f"'the matching {label} #' || p.target || ' was deleted or merged meanwhile'",
                skipped="TRUE",
            )
        if not dry_run and counts.get("changed"):
            self._apply_updates(every, at, contact=contact)
        warned = self._warnings("p.outcome = 'changed'", source="imports_diff p")
        execute("DROP TABLE imports_diff")
        return counts.get("changed", 0), counts.get("unchanged", 0) + gone, counts.get("fail", 0), warned

    def _apply_updates(self, every: list[UpdateColumn], at: str, *, contact: bool) -> None:
        spec = self.spec
        table = ident(spec.table)
        assignments = [f"{ident(c.column)} = d.new_{c.column}" for c in every]
        assignments.append(f"updated_at = {at}")
        if self.run.record_type == RecordType.ACCOUNT:  # the SYSTEM activity below is on the account
            assignments.append(f"last_activity_at = greatest(coalesce(r.last_activity_at, {at}), {at})")
        execute(
            f"UPDATE {table} r SET {', '.join(assignments)} FROM imports_diff d "
            "WHERE r.id = d.id AND d.outcome = 'changed'"
        )
        account = "d.new_account_id" if contact else None
        via = f"'import_id', {self.run.pk}, 'via', 'import'"
        columns, values = self.activity(
            record="d.id",
            account=account,
            type=ActivityType.SYSTEM,
            subject=quote(f"{spec.label} updated"),
            metadata=f"jsonb_build_object('event', 'updated', 'changes', d.changes, {via})",
            now=at,
        )
        activities = ident(Activity._meta.db_table)
        execute(
            f"INSERT INTO {activities} ({columns}) SELECT {values} FROM imports_diff d "
            "WHERE d.outcome = 'changed' AND d.changes <> '{}'"
        )
        columns, values = self.activity(
            record="d.id",
            account=account,
            type=ActivityType.OWNER_CHANGE,
            subject="'Owner changed'",
            metadata=f"jsonb_build_object('from', d.old_owner_id, 'to', d.new_owner_id, {via})",
            now=at,
        )
        execute(
            f"INSERT INTO {activities} ({columns}) SELECT {values} FROM imports_diff d "
            "WHERE d.outcome = 'changed' AND d.new_owner_id IS DISTINCT FROM d.old_owner_id"
        )
        if contact:
            execute(touch_accounts("SELECT new_account_id FROM imports_diff WHERE outcome = 'changed'", at))
        columns, values = insert_columns(
            ImportChange,
            {
                "import_run_id": str(self.run.pk),
                "record_id": "d.id",
                "kind": quote(ChangeKind.UPDATED),
                "before": "d.before",
                "after": "d.after",
            },
        )
        execute(
            f"INSERT INTO {ident(ImportChange._meta.db_table)} ({columns}) SELECT {values} "
            "FROM imports_diff d WHERE d.outcome = 'changed' ORDER BY d.n"
        )


def _plain(column: UpdateColumn, side: str) -> str:
    """A value as the services' change metadata shows it (amounts as strings)."""
    value = f"{side}_{column.column}"
    return f"{value}::text" if column.column == "value" else value
