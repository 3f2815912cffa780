# ruff: noqa: S608  (SQL is built from model table names, quoted identifiers and quote()d literals only)
"""Planning: one row per file row with its action (create, update, skip or fail, and why), built from the
staged rows in one transaction."""

from __future__ import annotations

from django.db import transaction

from shared_apps.core.db import connection
from shared_apps.users.models import User
from tenant_apps.accounts.models import Account
from tenant_apps.imports.expressions import quote, unescaped
from tenant_apps.imports.fields import Check
from tenant_apps.imports.models import DuplicatePolicy, Import, ImportChange, ImportPhase
from tenant_apps.imports.pipeline.load import Loading
from tenant_apps.imports.pipeline.sql import execute, fetchall, ident
from tenant_apps.privacy.models import DoNotContact

WORK_MEM = "256MB"  # the plan's sorts and hashes stay in memory
# From this many rows the plan's one pass over the staged rows is read by parallel workers too: PostgreSQL
# prices the pass's expressions (regular expressions, unaccent, the identity key's replacements) as if they
# were free and keeps it in one process. Measured at 1M rows: 11.2-11.4 s alone, 9.0-10.6 s with workers.
PARALLEL_PLAN_ROWS = 100_000
PARALLEL = ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size")


class Planning(Loading):
    """The staged rows into the plan table, and the tables dropped when the import ends."""

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
            self._custom_values()
            self._plan(rebuild=rebuild, rows=rows)
            execute(f"DROP TABLE {self.staging}")
            Import.objects.filter(pk=self.run.pk).update(
                rows_read=rows, encoding=encoding, phase=ImportPhase.WRITING
            )
        self.run.rows_read, self.run.encoding, self.run.phase = rows, encoding, ImportPhase.WRITING
        return rows

    def drop(self) -> None:
        execute(f"DROP TABLE IF EXISTS {self.plan}")
        execute(f"DROP TABLE IF EXISTS {self.staging}")

    def _plan(self, *, rebuild: bool, rows: int) -> None:
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
        if "phone" in self.fields:  # normalized as the file was read (normalize.phone)
            raw += ", coalesce(c_phone_norm, '') AS h_phone_norm"
        for mapped in self.custom:  # cleaned as the file was read (tenant_apps.imports.custom)
            column = mapped.column
            raw += f", coalesce(c_{column}, '') AS r_{column}, coalesce(c_{column}_bad, '') AS h_{column}_bad"
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
        every = spec.checks(ctx)
        errs = _problems([check for check in every if not check.warning])
        warns = _problems([check for check in every if check.warning])
        level = f"SELECT d.*, {errs} AS errs, {warns} AS warns FROM ({level}) d OFFSET 0"
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
        parallel = rows >= PARALLEL_PLAN_ROWS
        if parallel:
            for setting in PARALLEL:
                execute(f"SET LOCAL {setting} = 0")
        execute(
            f"CREATE UNLOGGED TABLE {self.plan} AS SELECT n, line, {', '.join(names)}, "
            "(bad = '' AND errs = '{}') AS ok, NULL::bigint AS target, "
            "CASE WHEN bad = '' AND errs = '{}' THEN 'create' ELSE 'fail' END AS action, "
            f"{code} AS code, "
            "CASE WHEN bad = '' AND errs <> '{}' THEN split_part(errs[1], '|', 2) ELSE '' END AS field, "
            f"{message} AS message, "
            # a row written despite a problem (an unknown owner): listed in errors.csv as a warning
            "CASE WHEN bad = '' AND errs = '{}' AND warns <> '{}' THEN split_part(warns[1], '|', 1) "
            "ELSE '' END AS w_code, "
            "CASE WHEN bad = '' AND errs = '{}' AND warns <> '{}' THEN split_part(warns[1], '|', 2) "
            "ELSE '' END AS w_field, "
            "array_to_string(ARRAY(SELECT split_part(x, '|', 2) || ': ' || split_part(x, '|', 3) "
            f"FROM unnest(warns) AS u(x)), '; ') AS w_message FROM ({level}) e"
        )
        if parallel:
            for setting in PARALLEL:
                execute(f"SET LOCAL {setting} TO DEFAULT")
        execute(f"CREATE INDEX ON {self.plan} (n)")
        execute(f"ANALYZE {self.plan}")  # the passes below and the batches join it: plan them with statistics
        if "email" in self.fields:
            self._skip_do_not_contact()
        if run.duplicate_policy == DuplicatePolicy.CREATE:
            return
        label = spec.label.lower()
        for key in spec.duplicate_keys():
            # a later valid row sharing the key with an earlier one (first key first: email, phone, ...): the
            # keys held more than once, hashed, then the rows after each one's first line (a window over
            # every row, sorted by key, took twice as long at 1M rows)
            execute(
                f"UPDATE {self.plan} p SET action = 'skip', code = 'duplicate_in_file', "
                f"field = {quote(key.field)}, "
                f"message = 'duplicate of line ' || d.first || ' (same {key.label})' "
                f"FROM (SELECT {key.value} AS k, min(line) AS first FROM {self.plan} "
                f"WHERE ok AND {key.value} <> '' GROUP BY 1 HAVING count(*) > 1) d "
                f"WHERE d.k = {key.value.replace('v_', 'p.v_')} AND p.line > d.first AND p.action = 'create'"
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
                f"message = 'matches existing {label} #' || m.id || ' (same {key.label})'"
                if skip
                else f"action = 'update', field = {quote(key.field)}"
            )
            # the file's rows joined to the records sharing their key: PostgreSQL looks each row up in the
            # key's index for a small file and hashes for a large one (aggregating the whole table by key
            # first made a 10,000-row import into 1M leads take seconds per key)
            value = key.value.replace("v_", "q.v_")
            execute(
                f"UPDATE {self.plan} p SET target = m.id, {outcome} FROM (SELECT q.n, min(x.id) AS id "
                f"FROM {self.plan} q JOIN {table} x ON {key.existing} = {value} "
                f"WHERE q.action = 'create' AND {value} <> '' AND {alive} AND {key.existing} <> ''{own} "
                "GROUP BY q.n) m WHERE p.n = m.n AND p.action = 'create'"
            )
        if not skip:  # two rows matching the same record: the first updates it
            execute(
                f"UPDATE {self.plan} p SET action = 'skip', code = 'duplicate_in_file', "
                f"message = 'the same existing {label} #' || p.target || ' as line ' || d.first FROM "
                f"(SELECT n, line, min(line) OVER (PARTITION BY target) AS first FROM {self.plan} "
                "WHERE action = 'update') d WHERE d.first < d.line AND p.n = d.n"
            )

    def _skip_do_not_contact(self) -> None:
        """A person whose address is on the do-not-contact list (erased, unsubscribed, bounced, or listed by
        an admin) is not brought back by an import: the row is skipped, and errors.csv says why."""
        listed = ident(DoNotContact._meta.db_table)
        execute(
            f"UPDATE {self.plan} p SET action = 'skip', ok = FALSE, code = 'do_not_contact', "
            "field = 'email', message = 'the address is on the do-not-contact list (' || d.reason || ')' "
            f"FROM {listed} d WHERE p.action = 'create' AND p.v_email <> '' AND p.v_email = d.email"
        )


def _problems(checks: list[Check]) -> str:
    """The checks a row fails, as an array of 'code|field|message'."""
    cases = [
        f"CASE WHEN {check.condition} THEN {quote(f'{check.code}|{check.field}|{check.message}')} END"
        for check in checks
    ]
    return f"array_remove(ARRAY[{', '.join(cases)}]::text[], NULL)" if cases else "'{}'::text[]"


def _column(name: str) -> str:
    """A value's column in the plan: v_<name>, or the name itself for an intermediate step (h_...)."""
    return name if name.startswith("h_") else f"v_{name}"
