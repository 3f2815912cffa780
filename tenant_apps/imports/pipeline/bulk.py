# ruff: noqa: S608  (SQL is built from model table and index names, quoted)
"""Bulk mode (issue 21): a large import writes its records with the table's costly secondary indexes gone
and builds them again in one go at the end, instead of maintaining each of them row by row.

Measured at 200,000 leads (issue 21, see README): the lead table with every index takes ~7,000-9,000 rows/s
by INSERT ... SELECT, its heap alone ~32,000-50,000, and building all its indexes afterwards costs less than
maintaining them row by row. What stays live: the primary key, unique constraints, the dedupe keys (email,
phone, identity: b-trees that concurrent creations' duplicate checks read) and the b-trees the import's rows
append to (APPENDED), and every index of the activity table (below). What goes: the lead model's other
indexes (the search vector, trigram and tags GINs, the type-ahead keys, the orderings by value and by name).
Meanwhile the organization keeps working: requests that would read a missing index scan the table instead
(slower, never wrong).

Locks: without a caller's transaction (the worker) indexes are dropped and built CONCURRENTLY, so no request
waits for the build; inside one (tests, which roll back) the plain statements are used. One bulk import at a
time per organization (a session advisory lock, released if the worker dies): a second import meanwhile
writes row by row and its rows are indexed by the first one's build. Recovery: the indexes are rebuilt when
the import ends, fails or is cancelled, when it is retried (a killed worker) and by the periodic sweep
(`indexes_restore`, config/cron.py) for an import that died for good; an index left INVALID by an
interrupted concurrent build is dropped and built again. Recovery also covers the activity indexes an
earlier version's import dropped (LEGACY_DEFERRED), but never a declared index that no import drops: one a
pending migration is about to add is left to it (built first, the migration would fail on its name).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from shared_apps.core.db import connection
from tenant_apps.activities.models import Activity
from tenant_apps.imports.models import RecordType
from tenant_apps.imports.pipeline.sql import execute, fetchall, ident
from tenant_apps.leads.models import Lead

# The lead indexes that stay live besides the dedupe keys: those whose keys an import's rows add at their
# right-hand end (created_at, updated_at, stage_changed_at are the batch's time; owner, stage and score take
# a few values, last_contacted_at none). Each costs a lead insert ~1 us there, less than its share of the
# build at the end (measured at 200k rows: +1.65 s for the eight kept vs 8.8 s to build them at 1M), and the
# default list, the board and a rep's pipeline keep their indexes while the import runs.
APPENDED = frozenset(
    {
        "lead_owner_stage_idx",
        "lead_stage_created_idx",
        "lead_last_contacted_idx",
        "lead_alive_created_idx",
        "lead_board_column_idx",
        "lead_by_updated_at_idx",
        "lead_by_stage_changed_at_idx",
        "lead_by_score_idx",
    }
)
# Every activity index stays live: an imported lead's CREATED activity adds one entry at the right-hand end of
# three b-trees (by lead, by lead and type, by type and time) and none to the partial ones (the other records'
# timelines, email threads, the activity search GIN). Cheaper than building them again even into an empty
# table (1M rows: 102.7 -> 96.7 s end to end, builds 38.0 -> 32.0 s), and a lead's timeline stays indexed
# while a first import runs.
ACTIVITY_KEPT = frozenset(index.name for index in Activity._meta.indexes)
# what a bulk import of an earlier version dropped and built again at its end besides the lead indexes still
# deferred (the activity table's, when it held no more rows than the import created): an import that died
# across the upgrade may have left them missing, so recovery builds them too
LEGACY_DEFERRED = frozenset(
    {
        "activity_search_gin",
        "activity_lead_created_idx",
        "activity_lead_type_idx",
        "activity_type_created_idx",
        "activity_thread_idx",
    }
)
# the tables a bulk import of a record type writes (its records, their CREATED activities), each with the
# indexes that stay live: the leads' dedupe keys and APPENDED, the activities' all (constraints are live)
TABLES: dict[str, tuple[tuple[type[models.Model], frozenset[str]], ...]] = {
    RecordType.LEAD: (
        (Lead, frozenset({"lead_email_idx", "lead_phone_idx", "lead_identity_idx"}) | APPENDED),
        (Activity, ACTIVITY_KEPT),
    ),
}


def deferrable(model: type[models.Model], kept: frozenset[str]) -> list[models.Index]:
    """The indexes a bulk import builds at the end: every index the model declares but the kept ones."""
    return [index for index in model._meta.indexes if index.name not in kept]


def _table(model: type[models.Model]) -> str:
    return f"{ident(connection.schema_name)}.{ident(model._meta.db_table)}"


def _existing(model: type[models.Model]) -> dict[str, bool]:
    """The table's indexes in the current schema: name -> valid."""
    rows = fetchall(
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass",
        [_table(model)],
    )
    return {name: valid for name, valid in rows}


def _holds_at_most(model: type[models.Model], rows: int) -> bool:
    """Whether the table holds at most `rows` rows (counting no further than that)."""
    table = _table(model)
    return bool(
        fetchall(f"SELECT count(*) <= %s FROM (SELECT 1 FROM {table} LIMIT %s) s", [rows, rows + 1])[0][0]
    )


def _concurrently() -> str:
    """CONCURRENTLY cannot run in a transaction block: only without a caller's transaction."""
    return "" if connection.in_atomic_block else " CONCURRENTLY"


def _drop(name: str) -> None:
    execute(f"DROP INDEX{_concurrently()} IF EXISTS {ident(connection.schema_name)}.{ident(name)}")


def _create(model: type[models.Model], index: models.Index) -> None:
    within = connection.in_atomic_block
    with connection.schema_editor(atomic=False, collect_sql=False) as editor:
        statement = index.create_sql(model, editor, concurrently=not within)
    if within:  # CREATE INDEX refuses a table with deferred foreign-key checks pending: run them now
        execute("SET CONSTRAINTS ALL IMMEDIATE")
    execute(str(statement))
    if within:
        execute("SET CONSTRAINTS ALL DEFERRED")


def _build_order(index: models.Index) -> tuple[bool, bool]:
    """The GIN indexes first (each built on one core: the caller's work meanwhile has the other), the search
    vector's first of them, the longest build: the caller's work beside it (the vocabulary, ~5 s at 1M rows)
    ends before that build's last wait. A concurrent build waits for every transaction older than its
    snapshot: the tags GIN built first waited out the whole vocabulary (4.7 s for 0.3 s of work)."""
    return (not isinstance(index, GinIndex), "search_vector" not in index.fields)


def restorable(model: type[models.Model], kept: frozenset[str]) -> list[models.Index]:
    """The indexes recovery builds when they are missing: the deferrable ones and LEGACY_DEFERRED."""
    return [index for index in model._meta.indexes if index.name not in kept or index.name in LEGACY_DEFERRED]


def indexes_missing(record_type: str = RecordType.LEAD) -> list[str]:
    """The restorable indexes absent or invalid in the current organization's schema."""
    missing = []
    for model, kept in TABLES[record_type]:
        existing = _existing(model)
        missing += [index.name for index in restorable(model, kept) if not existing.get(index.name)]
    return missing


def indexes_defer(record_type: str, creates: int) -> list[str]:
    """Drop the deferrable indexes of the tables holding at most `creates` rows (building an index again
    is a pass over its whole table); returns their names. The caller holds the organization's bulk lock."""
    names = []
    for model, kept in TABLES[record_type]:
        droppable = deferrable(model, kept)
        if not droppable or not _holds_at_most(model, creates):
            continue
        existing = _existing(model)
        names += [index.name for index in droppable if index.name in existing]
    for name in names:
        _drop(name)
    return names


def indexes_build(record_type: str = RecordType.LEAD) -> list[str]:
    """Build the restorable indexes that are missing (an invalid one, left by an interrupted concurrent build,
    is dropped first), one after the other; returns their names. The caller holds the bulk lock."""
    built = []
    memory = settings.IMPORT_INDEX_BUILD_MEMORY
    if memory:  # a session setting (a concurrent build spans transactions); set back below
        execute("SELECT set_config('maintenance_work_mem', %s, false)", [memory])
    try:
        for model, kept in TABLES[record_type]:
            existing = _existing(model)
            missing = [index for index in restorable(model, kept) if not existing.get(index.name)]
            missing.sort(key=_build_order)
            for index in missing:
                if index.name in existing:
                    _drop(index.name)
                _create(model, index)
                built.append(index.name)
            if missing:  # the table grew by an import: the planner learns its size now, not at autovacuum's
                execute(f"ANALYZE {_table(model)}")
    finally:
        if memory:
            execute("RESET maintenance_work_mem")
    return built


def live_tables_analyze(record_type: str = RecordType.LEAD) -> None:
    """ANALYZE the tables a bulk import wrote whose indexes all stayed live (the activities): indexes_build
    analyzes the tables it builds for, and these grew as much (a first import: from nothing to a million
    rows), so the planner learns it now rather than at autovacuum's next pass. Beside the lead builds: it
    takes no lock they wait for."""
    for model, kept in TABLES[record_type]:
        if not deferrable(model, kept):
            execute(f"ANALYZE {_table(model)}")


def _key() -> str:
    return f"{connection.schema_name}:imports:bulk"


def lock_take() -> bool:
    """Take the organization's bulk-import lock if free (a session advisory lock: the work spans many
    transactions, and a dead worker's connection releases it); returns whether this session holds it."""
    return bool(fetchall("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [_key()])[0][0])


def lock_release() -> None:
    execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [_key()])


@contextmanager
def bulk_lock() -> Iterator[bool]:
    """The organization's bulk-import lock for the block, yielding whether this session holds it."""
    held = lock_take()
    try:
        yield held
    finally:
        if held:
            lock_release()


def indexes_restore() -> list[str]:
    """The sweep: build whatever deferrable index an import that died for good left missing, unless a bulk
    import holds the lock (it builds them when it ends). Returns the names built."""
    with bulk_lock() as held:
        if not held:
            return []
        built = []
        for record_type in TABLES:
            if indexes_missing(record_type):
                built += indexes_build(record_type)
        return built


def bulk_worthwhile(record_type: str, creates: int) -> bool:
    """Bulk mode pays when the import creates at least IMPORT_BULK_MIN_ROWS records and at least as many as
    the record table holds (building every index again costs a pass over the whole table)."""
    if record_type not in TABLES or creates < settings.IMPORT_BULK_MIN_ROWS:
        return False
    records, _ = TABLES[record_type][0]
    return _holds_at_most(records, creates)
