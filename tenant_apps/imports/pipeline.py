# ruff: noqa: S608  (SQL is built from model table names, quoted identifiers and quote()d literals only)
"""The import's work in SQL, set-based: the file streamed into a staging table with COPY, validated and
normalized into a plan (one row per file row, with its action: create, update, skip or fail, and why), then
written in batches of row numbers, each batch one transaction that also moves the checkpoint, and undone the
same way by a revert.

Tables: `imports_<id>_staging` and `imports_<id>_plan`, UNLOGGED, in the organization's schema. They survive
a killed worker (a retried job resumes from the checkpoint with the same plan) and are dropped when the
import finishes; after a database crash (which empties unlogged tables) the plan is built again from the
stored file, leaving out the records the import already created, and writing resumes at the checkpoint.
"""

from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from django.db import models, transaction
from django.utils import timezone

from shared_apps.core.db import connection
from shared_apps.users.models import User
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.imports import csvio
from tenant_apps.imports.exceptions import ImportFileError
from tenant_apps.imports.fields import NOW, SPECS, Context, Spec, UpdateColumn, quote, tags_cell, unescaped
from tenant_apps.imports.models import (
    ChangeKind,
    DuplicatePolicy,
    Import,
    ImportChange,
    ImportChunk,
    ImportPhase,
    ImportRowError,
    RecordType,
)
from tenant_apps.records import normalize

WORK_MEM = "256MB"  # the plan's sorts and hashes stay in memory
ANCHORS = {RecordType.LEAD: "lead_id", RecordType.CONTACT: "contact_id", RecordType.ACCOUNT: "account_id"}
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


@dataclass
class Counts:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0


class Pipeline:
    def __init__(self, run: Import, *, currency: str) -> None:
        self.run = run
        self.spec: Spec = SPECS[run.record_type]
        self.fields = [name for name in self.spec.fields if name in run.mapping]
        self.ctx = Context(
            import_id=run.pk,
            mapped=set(self.fields),
            default_owner_id=run.default_owner_id,
            tags=list(run.tags),
            currency=currency,
            actor_id=run.created_by_id,
        )
        schema = ident(connection.schema_name)
        self.staging = f"{schema}.{ident(f'imports_{run.pk}_staging')}"
        self.plan = f"{schema}.{ident(f'imports_{run.pk}_plan')}"

    # --- the plan -----------------------------------------------------------------------------------------

    def plan_ready(self) -> bool:
        """The plan table exists and holds every row (an unlogged table is empty after a database crash)."""
        name = f"imports_{self.run.pk}_plan"
        exists = fetchall(
            "SELECT to_regclass(%s) IS NOT NULL", [f"{ident(connection.schema_name)}.{ident(name)}"]
        )
        if not exists[0][0]:
            return False
        if not self.run.rows_read:
            return True
        return bool(fetchall(f"SELECT EXISTS (SELECT FROM {self.plan})")[0][0])

    def build(self, *, rebuild: bool) -> int:
        """Load the file and build the plan in one transaction; returns the rows read. `rebuild`: the import
        already wrote part of the file (its created records are not duplicates of the rest)."""
        with transaction.atomic():
            execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            execute(f"DROP TABLE IF EXISTS {self.plan}")
            rows, encoding = self._load()
            self._python_fixes()
            self._plan(rebuild=rebuild)
            execute(f"DROP TABLE {self.staging}")
            Import.objects.filter(pk=self.run.pk).update(
                rows_read=rows, encoding=encoding, phase=ImportPhase.WRITING
            )
        self.run.rows_read, self.run.encoding, self.run.phase = rows, encoding, ImportPhase.WRITING
        return rows

    def drop(self) -> None:
        execute(f"DROP TABLE IF EXISTS {self.plan}")
        execute(f"DROP TABLE IF EXISTS {self.staging}")

    def _spool(self) -> IO[bytes]:
        """The stored file in a local temporary file: a COPY in progress holds the connection, so the chunks
        cannot be read from the database while the rows stream in."""
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the caller)
        seqs = ImportChunk.objects.filter(import_run=self.run).order_by("seq").values_list("seq", flat=True)
        for seq in list(seqs):
            data = ImportChunk.objects.filter(import_run=self.run, seq=seq).values_list("data", flat=True)[0]
            spool.write(bytes(data))
        spool.seek(0)
        return spool

    def _load(self) -> tuple[int, str]:
        encodings = [self.run.encoding]
        if self.run.encoding == "utf-8":  # detected on the first bytes; the rest may be Latin-1 after all
            encodings.append(csvio.LATIN1)
        with self._spool() as spool:
            for encoding in encodings:
                spool.seek(0)
                try:
                    with transaction.atomic():
                        return self._copy(spool, encoding), encoding
                except UnicodeDecodeError:
                    continue
        raise ImportFileError(f"The file is not valid {self.run.encoding} text.")

    def _copy(self, spool: IO[bytes], encoding: str) -> int:
        staged = [f"c_{name}" for name in self.fields]
        tags_at = self.fields.index("tags") if "tags" in self.fields else None
        if tags_at is not None:
            staged += ["c_tags_norm", "c_tags_bad"]
        execute(
            f"CREATE UNLOGGED TABLE {self.staging} (n bigint, line bigint, bad text, "
            f"{', '.join(f'{column} text' for column in staged)})"
        )
        from django.conf import settings

        rows = csvio.iter_rows(
            iter(lambda: spool.read(1 << 20), b""),
            encoding=encoding,
            delimiter=self.run.delimiter,
            has_header=self.run.has_header,
            width=len(self.run.header),
            columns=[self.run.mapping[name] for name in self.fields],
            max_rows=settings.IMPORT_MAX_ROWS,
        )
        target = ", ".join(["n", "line", "bad", *staged])
        buffer = _Lines()
        writer = csv.writer(buffer, lineterminator="\n")
        count = 0
        strip = str.strip
        extra = list(self.run.tags)
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {self.staging} ({target}) FROM STDIN (FORMAT csv)") as copy,
        ):
            for number, line, problem, values in rows:
                cells = tuple(map(strip, values))
                if tags_at is None:
                    writer.writerow((number, line, problem, *cells))
                else:
                    writer.writerow((number, line, problem, *cells, *tags_cell(cells[tags_at], extra)))
                count = number
                if len(buffer.parts) >= 4096:
                    copy.write(buffer.take())
            copy.write(buffer.take())
        return count

    def _python_fixes(self) -> None:
        """Values SQL cannot normalize (international domain names), converted in Python before the plan."""
        for name, (predicate, fix) in self.spec.python_fixes.items():
            if name not in self.fields:
                continue
            column = f"c_{name}"
            rows = fetchall(f"SELECT n, {column} FROM {self.staging} WHERE {predicate.format(raw=column)}")
            if rows:
                with connection.cursor() as cursor:
                    cursor.executemany(
                        f"UPDATE {self.staging} SET {column} = %s WHERE n = %s",
                        [(fix(value.strip()), number) for number, value in rows],
                    )

    def _plan(self, *, rebuild: bool) -> None:
        """The plan, in one pass over the staged rows (normalized values, and each row's problems), then
        narrow passes for duplicates: within the file (a later row sharing a key with an earlier valid one)
        and against existing live records (the duplicate policy decides: skip, update or create)."""
        spec, ctx, run = self.spec, self.ctx, self.run

        def staged(name: str) -> str:
            # only free text holds what an export escaped (codes and numbers never start with = + - @)
            return unescaped(f"c_{name}") if name in spec.free_text else f"coalesce(c_{name}, '')"

        raw = ", ".join(f"{staged(name)} AS r_{name}" for name in self.fields)
        if "tags" in self.fields:  # normalized as the file was read (fields.tags_cell)
            raw += ", c_tags_norm AS h_tags, coalesce(c_tags_bad, '') AS h_tags_bad"
        level = f"SELECT n, line, coalesce(bad, '') AS bad, {raw} FROM {self.staging} OFFSET 0"
        joins = ""  # the lookups the first level of values uses
        if "owner" in self.fields:
            users = ident(User._meta.db_table)
            joins += (
                f" LEFT JOIN (SELECT lower(u.email) AS k, u.id FROM {users} u WHERE u.is_active "
                f"UNION ALL SELECT u.id::text, u.id FROM {users} u WHERE u.is_active) o "
                "ON o.k = lower(l0.r_owner)"
            )
        if "account" in self.fields:
            accounts, alive = (
                ident(Account._meta.db_table),
                "x.deleted_at IS NULL AND x.merged_into_id IS NULL",
            )
            joins += (
                " LEFT JOIN (SELECT DISTINCT ON (k) k, id FROM (SELECT lower(x.name) AS k, x.id "
                f"FROM {accounts} x WHERE {alive} UNION ALL SELECT x.id::text, x.id FROM {accounts} x "
                f"WHERE {alive}) s ORDER BY k, id) a ON a.k = lower(l0.r_account)"
            )
        levels = [spec.values(ctx), *spec.derived(ctx)]
        for index, columns in enumerate(levels):
            listed = ", ".join(f"{expression} AS {_column(name)}" for name, expression in columns.items())
            lookups = joins if index == 0 else ""
            level = f"SELECT l{index}.*, {listed} FROM ({level}) l{index}{lookups} OFFSET 0"
        checks = [
            f"CASE WHEN {check.condition} THEN {quote(f'{check.code}|{check.field}|{check.message}')} END"
            for check in spec.checks(ctx)
        ]
        errs = f"array_remove(ARRAY[{', '.join(checks)}]::text[], NULL)" if checks else "'{}'::text[]"
        level = f"SELECT d.*, {errs} AS errs FROM ({level}) d OFFSET 0"
        names = [f"r_{name}" for name in self.fields]
        names += [_column(name) for columns in levels for name in columns if not name.startswith("h_")]
        message = (
            "CASE WHEN bad <> '' THEN bad WHEN errs <> '{}' THEN array_to_string(ARRAY("
            "SELECT split_part(x, '|', 2) || ': ' || split_part(x, '|', 3) FROM unnest(errs) AS u(x)), '; ') "
            "ELSE '' END"
        )
        code = (
            "CASE WHEN bad <> '' THEN 'wrong_columns' WHEN errs <> '{}' THEN split_part(errs[1], '|', 1) "
            "ELSE '' END"
        )
        execute(
            f"CREATE UNLOGGED TABLE {self.plan} AS SELECT n, line, {', '.join(names)}, "
            "(bad = '' AND errs = '{}') AS ok, NULL::bigint AS target, "
            "CASE WHEN bad = '' AND errs = '{}' THEN 'create' ELSE 'fail' END AS action, "
            f"{code} AS code, "
            "CASE WHEN bad = '' AND errs <> '{}' THEN split_part(errs[1], '|', 2) ELSE '' END AS field, "
            f"{message} AS message FROM ({level}) e"
        )
        execute(f"CREATE INDEX ON {self.plan} (n)")
        execute(f"ANALYZE {self.plan}")  # the passes below and the batches join it: plan them with statistics
        if run.duplicate_policy == DuplicatePolicy.CREATE:
            return
        label = spec.label.lower()
        for key in spec.duplicate_keys():
            # a later valid row sharing the key with an earlier one (first key first: email, phone, ...)
            execute(
                f"UPDATE {self.plan} p SET action = 'skip', code = 'duplicate_in_file', "
                f"field = {quote(key.field)}, "
                f"message = 'duplicate of line ' || d.first || ' (same {key.label})' "
                f'FROM (SELECT n, line, min(line) OVER (PARTITION BY {key.value} COLLATE "C") AS first '
                f"FROM {self.plan} WHERE ok AND {key.value} <> '') d "
                "WHERE d.first < d.line AND p.n = d.n AND p.action = 'create'"
            )
        table, alive = ident(spec.table), "x.deleted_at IS NULL AND x.merged_into_id IS NULL"
        own = ""
        if rebuild:
            changes = ident(ImportChange._meta.db_table)
            own = (
                f" AND NOT EXISTS (SELECT FROM {changes} c, unnest(c.record_ids) AS o(id) "
                f"WHERE c.import_run_id = {run.pk} AND c.kind = 'created' AND o.id = x.id)"
            )
        skip = run.duplicate_policy == DuplicatePolicy.SKIP
        for key in spec.duplicate_keys():
            outcome = (
                f"action = 'skip', code = 'duplicate', field = {quote(key.field)}, "
                f"message = 'matches existing {label} #' || x.id || ' (same {key.label})'"
                if skip
                else f"action = 'update', field = {quote(key.field)}"
            )
            execute(
                f"UPDATE {self.plan} p SET target = x.id, {outcome} FROM (SELECT {key.existing} AS k, "
                f"min(x.id) AS id FROM {table} x WHERE {alive} AND {key.existing} <> ''{own} GROUP BY 1) x "
                f"WHERE p.action = 'create' AND {key.value.replace('v_', 'p.v_')} = x.k"
            )
        if not skip:  # two rows matching the same record: the first updates it
            execute(
                f"UPDATE {self.plan} p SET action = 'skip', code = 'duplicate_in_file', "
                f"message = 'the same existing {label} #' || p.target || ' as line ' || d.first FROM "
                f"(SELECT n, line, min(line) OVER (PARTITION BY target) AS first FROM {self.plan} "
                "WHERE action = 'update') d WHERE d.first < d.line AND p.n = d.n"
            )

    # --- writing ------------------------------------------------------------------------------------------

    def write_batch(self, low: int, high: int, *, dry_run: bool) -> Counts:
        """Rows low < n <= high: their errors, created records (with CREATED activities) and updates. The
        caller holds the batch's transaction, which also moves the checkpoint."""
        now = timezone.now()
        # The batch and its checkpoint commit together, so a commit lost in a database crash loses both and
        # the import redoes the batch: waiting for the WAL flush buys nothing here.
        execute("SET LOCAL synchronous_commit = off")
        where = f"p.n > {low} AND p.n <= {high}"
        actions = dict(fetchall(f"SELECT action, count(*) FROM {self.plan} p WHERE {where} GROUP BY action"))
        counts = Counts(skipped=actions.get("skip", 0), failed=actions.get("fail", 0))
        self._errors(f"{where} AND p.action IN ('fail', 'skip')")
        if actions.get("create"):
            counts.imported = actions["create"] if dry_run else self._create(where, now)
        if actions.get("update"):
            updated, skipped, failed = self._update(where, now, dry_run=dry_run)
            counts.updated += updated
            counts.skipped += skipped
            counts.failed += failed
        return counts

    def _errors(
        self,
        where: str,
        *,
        source: str | None = None,
        code: str = "p.code",
        message: str = "p.message",
        skipped: str = "p.action = 'skip'",
        field: str = "p.field",
    ) -> None:
        values = ", ".join(f"{quote(name)}, p.r_{name}" for name in self.fields)
        provided = {
            "import_run_id": str(self.run.pk),
            "line": "p.line",
            "row_number": "p.n",
            "skipped": skipped,
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

    def _activity(
        self,
        *,
        record: str,
        account: str | None,
        type: str,
        subject: str,
        metadata: str,
        now: str,
        actor_id: int | None = None,
    ) -> tuple[str, str]:
        """(columns, values) inserting one activity per row on the record `record`."""
        anchor = ANCHORS[RecordType(self.run.record_type)]
        provided = {
            anchor: record,
            "type": quote(type),
            "subject": f"left({subject}, 300)",
            "body": "''",
            "metadata": metadata,
            "actor_id": quote(actor_id if actor_id is not None else self.ctx.actor_id),
            "occurred_at": now,
            "created_at": now,
            "message_id": "''",
            "thread_id": "''",
        }
        if account is not None:
            provided["account_id"] = account
        return insert_columns(Activity, provided)

    def _create(self, where: str, now: datetime) -> int:
        spec, ctx = self.spec, self.ctx
        at = timestamp(now)
        provided = {column: value.replace(NOW, at) for column, value in spec.insert(ctx).items()}
        columns, values = insert_columns(spec.model, provided)
        metadata = ", ".join(
            [f"{quote(key)}, {value}" for key, value in spec.created_metadata(ctx).items()]
            + [f"'import_id', {self.run.pk}", "'via', 'import'"]
        )
        account = "i.account_id" if self.run.record_type == RecordType.CONTACT else None
        activity_columns, activity_values = self._activity(
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
            touch = f", t AS ({_touch_accounts('SELECT account_id FROM i', at)})"
        activities, changes = ident(Activity._meta.db_table), ident(ImportChange._meta.db_table)
        rows = fetchall(
            f"WITH i AS (INSERT INTO {ident(spec.table)} ({columns}) SELECT {values} FROM {self.plan} p "
            f"WHERE {where} AND p.action = 'create' ORDER BY p.n RETURNING {', '.join(spec.returning)}), "
            f"a AS (INSERT INTO {activities} ({activity_columns}) SELECT {activity_values} FROM i){touch} "
            f"INSERT INTO {changes} ({change_columns}) SELECT {change_values} FROM i HAVING count(*) > 0 "
            "RETURNING cardinality(record_ids)"
        )
        return rows[0][0] if rows else 0

    def _update(self, where: str, now: datetime, *, dry_run: bool) -> tuple[int, int, int]:
        """Rows matching an existing record (duplicate policy "update"): the values the file gives replace
        the record's (tags are added); returns (updated, skipped, failed). Unchanged records, records
        deleted or merged since the plan was made, and tags beyond 20 are reported in the row errors."""
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
        contact = self.run.record_type == RecordType.CONTACT
        if contact:
            inner.append("r.account_id AS cur_account_id")
        raw = "".join(f", p.r_{name}" for name in self.fields)
        level = (
            f"SELECT p.n, p.line, r.id{raw}, {', '.join(inner)} FROM {self.plan} p "
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
        execute("DROP TABLE imports_diff")
        return counts.get("changed", 0), counts.get("unchanged", 0) + gone, counts.get("fail", 0)

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
        columns, values = self._activity(
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
        columns, values = self._activity(
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
            execute(_touch_accounts("SELECT new_account_id FROM imports_diff WHERE outcome = 'changed'", at))
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

    # --- revert -------------------------------------------------------------------------------------------

    def revert_batch(self, low: int, high: int, *, actor_id: int | None, now: datetime) -> dict[str, int]:
        """Undo the changes low < id <= high: created records soft-deleted (with a SYSTEM "deleted" activity,
        as lead_delete writes), updated records given back the values they had before the import, field by
        field, where the field still holds what the import wrote (a later change wins: a conflict)."""
        spec, run = self.spec, self.run
        at = timestamp(now)
        table, changes = ident(spec.table), ident(ImportChange._meta.db_table)
        activities = ident(Activity._meta.db_table)
        contact = run.record_type == RecordType.CONTACT
        in_range = f"c.import_run_id = {run.pk} AND c.id > {low} AND c.id <= {high}"
        alive = "r.deleted_at IS NULL AND r.merged_into_id IS NULL"
        via = f"'import_id', {run.pk}, 'via', 'import_revert'"

        columns, values = self._activity(
            record="d.id",
            account="d.account_id" if contact else None,
            type=ActivityType.SYSTEM,
            subject=quote(f"{spec.label} deleted"),
            metadata=f"jsonb_build_object('event', 'deleted', {via})",
            now=at,
            actor_id=actor_id,
        )
        touch = f", t AS ({_touch_accounts('SELECT account_id FROM d', at)})" if contact else ""
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
            full = Context(run.pk, set(spec.fields), None, [], "USD", None)
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
            shown = (
                "(SELECT jsonb_object_agg(regexp_replace(k, '_id$', ''), jsonb_build_array("
                "CASE WHEN k = 'value' THEN to_jsonb(v.after ->> k) ELSE v.after -> k END, "
                "CASE WHEN k = 'value' THEN to_jsonb(v.before ->> k) ELSE v.before -> k END)) "
                "FROM jsonb_object_keys(v.patch) AS k WHERE k <> 'owner_id')"
            )
            account = "r.account_id" if contact else None
            columns, values = self._activity(
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
            columns, values = self._activity(
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
                    _touch_accounts(
                        "SELECT r.account_id FROM imports_revert v JOIN "
                        f"{table} r ON r.id = v.id WHERE v.patch <> '{{}}'",
                        at,
                    )
                )
        execute("DROP TABLE imports_revert")
        return {"removed": removed, "restored": restored, "conflicts": int(conflicts)}


def _column(name: str) -> str:
    """A value's column in the plan: v_<name>, or the name itself for an intermediate step (h_...)."""
    return name if name.startswith("h_") else f"v_{name}"


def _plain(column: UpdateColumn, side: str) -> str:
    """A value as the services' change metadata shows it (amounts as strings)."""
    value = f"{side}_{column.column}"
    return f"{value}::text" if column.column == "value" else value


def _touch_accounts(ids: str, at: str) -> str:
    """activity_record's rule in bulk: an activity on an account's contact moves its last_activity_at
    forward."""
    accounts = ident(Account._meta.db_table)
    return (
        f"UPDATE {accounts} x SET last_activity_at = {at} WHERE x.id IN ({ids}) "
        f"AND (x.last_activity_at IS NULL OR x.last_activity_at < {at})"
    )


class _Lines:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        data = "".join(self.parts)
        self.parts.clear()
        return data
