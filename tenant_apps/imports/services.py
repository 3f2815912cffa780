"""Every write of imports and exports. Uploads are stored and queued here; the work runs in rq jobs (jobs.py)
that call import_run / import_revert_run / export_run, each safe to deliver twice (rq delivers at least once):
one worker at a time per import (a session advisory lock, released if the worker dies), finished work is
never redone, and a retried import resumes at its checkpoint.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import IO, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Func, IntegerField
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone
from rq import Retry

from shared_apps.audit.services import audit_record
from shared_apps.core.db import connection
from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.organizations.context import (
    current_organization,
    enqueue_in_organization,
    exports_dir,
    organization_context,
    thread_connections_close,
)
from shared_apps.users.models import User
from tenant_apps.imports import csvio
from tenant_apps.imports import custom as custom_fields
from tenant_apps.imports.exceptions import (
    BadFile,
    FileTooLarge,
    ImportFileError,
    ImportNotCancellable,
    ImportNotFound,
    ImportNotRevertible,
)
from tenant_apps.imports.fields import SPECS, Spec
from tenant_apps.imports.models import (
    ChangeKind,
    DuplicatePolicy,
    Export,
    ExportStatus,
    ExportType,
    Import,
    ImportChange,
    ImportChunk,
    ImportPhase,
    ImportStatus,
    RecordType,
)
from tenant_apps.imports.pipeline import Pipeline, bulk
from tenant_apps.imports.pipeline.sql import fetchall
from tenant_apps.imports.pipeline.write import Counts
from tenant_apps.imports.tasks import TASK_COLUMNS, TaskColumns, task_rows_write
from tenant_apps.records.services import clean_owner, clean_tags, import_create_check, record_create_room
from tenant_apps.search.vocabulary import words_deferred

CHUNK_BYTES = 1 << 20
BATCH_ROWS = 10_000  # rows per write transaction (and per progress report)
TASK_BATCH_ROWS = 500  # task rows go through the service one by one: smaller batches report progress
REVERT_BATCH = 10_000
MAX_ATTEMPTS = 5
RETRY = Retry(max=3, interval=[10, 60, 300])
JOB_TIMEOUT = 3600
# Called after each committed batch; tests make it raise to stand for a worker killed between batches.
after_batch: Callable[[Import], None] | None = None


# --- shared ---------------------------------------------------------------------------------------------


@contextmanager
def _exclusive(name: str) -> Iterator[bool]:
    """A session advisory lock (not a transaction's: the work spans many), yielding whether we hold it.
    A worker that dies drops its connection and with it the lock."""
    key = f"{connection.schema_name}:imports:{name}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


def _last_attempt() -> bool:
    """Whether rq will not retry the current job if it fails now (no job: called directly, no retry)."""
    from rq import get_current_job

    job = get_current_job()
    return job is None or not job.retries_left


def _enqueue(job: str, record_id: int) -> None:
    # enqueued when the transaction commits: a rolled-back upload starts nothing
    enqueue_in_organization(
        connection.schema_name,
        f"tenant_apps.imports.jobs.{job}",
        record_id,
        queue="low",
        retry=RETRY,
        job_timeout=JOB_TIMEOUT,
    )


def progress_data(run: Import) -> dict[str, Any]:
    return {
        "status": run.status,
        "rows_read": run.rows_read,
        "imported": run.imported,
        "updated": run.updated,
        "skipped": run.skipped,
        "failed": run.failed,
        "warnings": run.warnings,
        "progress": run.progress,
    }


# --- upload ----------------------------------------------------------------------------------------------


def resolve_mapping(
    spec: Spec | TaskColumns, header: list[str], *, has_header: bool, mapping: dict[str, Any] | None
) -> dict[str, int]:
    """field -> column index. An explicit mapping names columns (headers, case and spacing aside, or 1-based
    numbers) and the field each holds (null ignores the column); without one, headers are matched to the
    fields and their aliases. Every required field needs a column."""
    keys = [csvio.header_key(name) for name in header]
    columns: dict[str, int] = {}
    custom = custom_fields.fields(spec.record_type)
    if mapping:
        for column, field in mapping.items():
            if field in (None, ""):
                continue
            if field not in spec.fields and field not in custom:
                known = [*spec.fields, *custom]
                raise InvalidInput(
                    "mapping",
                    f"Unknown field {field!r}; {spec.record_type} fields: {', '.join(known)}.",
                )
            index = _column_index(str(column), header, keys, has_header=has_header)
            if field in columns and columns[field] != index:
                raise InvalidInput("mapping", f"Two columns map to {field}.")
            columns[field] = index
    else:
        for index, key in enumerate(keys):
            field = key if key in spec.fields else spec.aliases.get(key)
            if field is None:
                field = custom_fields.header_match(spec.record_type, key)
            if field is not None and field not in columns:
                columns[field] = index
        if not columns:
            raise InvalidInput(
                "mapping",
                f"No column header names a {spec.record_type} field ({', '.join(spec.fields)}): "
                "give a mapping.",
                code="no_columns",
            )
    required = [*spec.required, *custom_fields.required(spec.record_type)]
    missing = [field for field in required if field not in columns]
    if missing:
        raise InvalidInput("mapping", f"No column gives {', '.join(missing)} (required).", code="required")
    return columns


def _column_index(column: str, header: list[str], keys: list[str], *, has_header: bool) -> int:
    if has_header:
        wanted = csvio.header_key(column)
        matches = [index for index, key in enumerate(keys) if key == wanted]
        if len(matches) > 1:
            raise InvalidInput("mapping", f"Several columns are called {column!r}.")
        if matches:
            return matches[0]
    if column.isdigit() and 1 <= int(column) <= len(header):
        return int(column) - 1
    raise InvalidInput("mapping", f"The file has no column {column!r}.", code="unknown_column")


def _read(stream: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes (fewer only at the end of the stream)."""
    parts, missing = [], size
    while missing > 0:
        data = stream.read(missing)
        if not data:
            break
        parts.append(data)
        missing -= len(data)
    return b"".join(parts)


def import_create(
    *,
    actor: User,
    file: IO[bytes],
    record_type: Any,
    file_name: str = "",
    dry_run: bool = False,
    duplicate_policy: Any = DuplicatePolicy.SKIP,
    owner_id: Any = None,
    tags: Any = None,
    mapping: dict[str, Any] | None = None,
    has_header: bool = True,
    delimiter: str | None = None,
    encoding: str | None = None,
    request: HttpRequest | None = None,
) -> Import:
    """Store an uploaded CSV file and queue its import (a tenant job, enqueued when the transaction commits).

    A file that is not CSV text, is empty, or whose columns give no required field is refused here (400
    naming `file` or `mapping`), as is a file over IMPORT_MAX_BYTES (413) or IMPORT_MAX_ROWS rows (400);
    the rows themselves are checked by the job, each failing alone."""
    spec: Spec | TaskColumns | None = (
        TASK_COLUMNS if record_type == RecordType.TASK else SPECS.get(record_type)
    )
    if spec is None:
        raise InvalidInput("record_type", f"Expected one of {', '.join(RecordType.values)}.")
    if duplicate_policy not in DuplicatePolicy.values:
        raise InvalidInput("duplicate_policy", f"Expected one of {', '.join(DuplicatePolicy.values)}.")
    owner_id = clean_owner(owner_id)
    tags = clean_tags(list(tags or []))
    if delimiter is not None and delimiter not in csvio.DELIMITERS:
        raise InvalidInput("delimiter", "One of , ; tab |.")
    if encoding is not None and encoding not in csvio.ENCODINGS:
        raise InvalidInput("encoding", f"One of {', '.join(csvio.ENCODINGS)}.")
    max_bytes, max_rows = settings.IMPORT_MAX_BYTES, settings.IMPORT_MAX_ROWS

    sample = _read(file, csvio.SAMPLE_BYTES)
    complete = len(sample) < csvio.SAMPLE_BYTES
    if len(sample) > max_bytes:
        raise FileTooLarge(f"At most {max_bytes} bytes.", max_bytes=max_bytes)
    sniffed = csvio.sniff(
        sample, complete=complete, encoding=encoding, delimiter=delimiter, has_header=has_header
    )
    columns = resolve_mapping(spec, sniffed.header, has_header=has_header, mapping=mapping)
    if sniffed.rows_in_sample > max_rows:
        raise BadFile(f"At most {max_rows} rows.", code="too_many_rows", max_rows=max_rows)
    if not dry_run:
        import_create_check(today=Import.objects.filter(dry_run=False, created_at__gte=_day_start()).count())

    with transaction.atomic():
        run = Import.objects.create(
            record_type=spec.record_type,
            dry_run=bool(dry_run),
            duplicate_policy=duplicate_policy,
            default_owner_id=owner_id,
            tags=tags,
            mapping=columns,
            header=sniffed.header,
            has_header=has_header,
            delimiter=sniffed.delimiter,
            encoding=sniffed.encoding,
            file_name=(file_name or "")[:255].replace("\x00", ""),
            created_by=actor,
        )
        size, lines, last = 0, 0, b""
        sequence = 0
        data = sample
        while data:
            size += len(data)
            if size > max_bytes:
                raise FileTooLarge(f"At most {max_bytes} bytes.", max_bytes=max_bytes)
            lines += data.count(b"\n") or data.count(b"\r")
            last = data[-1:]
            ImportChunk.objects.create(import_run=run, seq=sequence, data=data)
            sequence += 1
            data = _read(file, CHUNK_BYTES)
        # rows <= lines; only a file that may be over the limit is counted exactly (quoted newlines)
        bound = lines + (0 if last in (b"\n", b"\r") else 1) - (1 if has_header else 0)
        if bound > max_rows and _count_rows(run) > max_rows:
            raise BadFile(f"At most {max_rows} rows.", code="too_many_rows", max_rows=max_rows)
        run.file_size = size
        run.save(update_fields=["file_size"])
        _enqueue("import_run_job", run.pk)
        publish_on_commit(
            "import.created",
            record_id=run.pk,
            actor_id=actor.pk,
            record_type=run.record_type,
            dry_run=run.dry_run,
        )
        audit_record(
            "import.started",
            request=request,
            actor=actor,
            target=run,
            target_repr=run.file_name,
            changes={
                "record_type": run.record_type,
                "dry_run": run.dry_run,
                "duplicate_policy": run.duplicate_policy,
                "bytes": size,
            },
        )
    return run


def _delete_file(run: Import) -> None:
    """The stored file is not needed once the import finished. (A plain DELETE: the ORM's would load every
    chunk into memory first.)"""
    with connection.cursor() as cursor:
        table = ImportChunk._meta.db_table
        cursor.execute(f'DELETE FROM "{table}" WHERE import_run_id = %s', [run.pk])  # noqa: S608


def _count_rows(run: Import) -> int:
    stored = ImportChunk.objects.filter(import_run=run).order_by("seq").values_list("data", flat=True)
    chunks = (bytes(data) for data in stored.iterator(chunk_size=1))
    rows = csvio.iter_rows(
        chunks,
        encoding=run.encoding,
        delimiter=run.delimiter,
        has_header=run.has_header,
        width=len(run.header),
        columns=[0],
        max_rows=2**62,
    )
    try:
        return sum(1 for _ in rows)
    except (ImportFileError, UnicodeDecodeError):
        return 0  # the job reports what is wrong with the file


# --- running ---------------------------------------------------------------------------------------------


def _pipeline(run: Import) -> Pipeline:
    organization = current_organization()
    return Pipeline(run, currency=organization.default_currency, number_format=organization.number_format)


def import_run(*, import_id: int) -> Import:
    """Run a queued import, or resume a running one whose worker died, from its checkpoint: batches of rows
    each commit their records, activities, errors and counts with the checkpoint, so no row is written twice
    or lost, and imported + updated + skipped + failed = rows read when it is done. Cancel is honoured
    between batches. A finished import is left as it is (at-least-once delivery)."""
    with _exclusive(f"import:{import_id}") as mine:
        run = Import.objects.filter(pk=import_id).first()
        if run is None:
            raise ImportNotFound(id=import_id)
        if not mine or run.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            return run
        if run.record_type == RecordType.TASK:
            return _task_import_run(run)
        pipeline = _pipeline(run)
        if run.cancel_requested:  # cancelled while its worker was gone
            return _finish(run, ImportStatus.CANCELLED, pipeline)
        Import.objects.filter(pk=run.pk).update(
            status=ImportStatus.RUNNING,
            attempts=F("attempts") + 1,
            started_at=Coalesce(F("started_at"), timezone.now()),
        )
        run.refresh_from_db()
        if run.attempts > MAX_ATTEMPTS:
            error = f"Gave up after {MAX_ATTEMPTS} attempts. {run.error}"
            return _finish(run, ImportStatus.FAILED, pipeline, error=error)
        try:
            if run.phase not in (ImportPhase.WRITING, ImportPhase.INDEXING) or not pipeline.plan_ready():
                Import.objects.filter(pk=run.pk).update(phase=ImportPhase.PREPARING)
                pipeline.build(rebuild=run.checkpoint > 0)
            return _write(run, pipeline)
        except ImportFileError as error:
            return _finish(run, ImportStatus.FAILED, pipeline, error=str(error))
        except Exception as error:
            Import.objects.filter(pk=run.pk).update(error=f"{type(error).__name__}: {error}"[:2000])
            if _last_attempt():
                _finish(run, ImportStatus.FAILED, pipeline, error=f"{type(error).__name__}: {error}"[:2000])
            raise


PLAN_LIMIT_ERROR = "plan_limit_reached: the plan's records limit was reached after {row} rows."


def _day_start() -> datetime:
    """Midnight today in the organization's zone: imports per day count from here."""
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def _write(run: Import, pipeline: Pipeline) -> Import:
    """The batches, in bulk mode (pipeline/bulk.py) when the import is large for its organization: the costly
    indexes are dropped first and built again before the import is done (also when it fails or is
    cancelled: no organization is left without them)."""
    deferred = False
    held = run.record_type in bulk.TABLES and bulk.lock_take()
    try:
        if held:
            creates = 0 if run.dry_run else pipeline.creates_after(run.checkpoint)
            if bulk.bulk_worthwhile(run.record_type, creates):
                bulk.indexes_defer(run.record_type, creates)
                deferred = True
            elif bulk.indexes_missing(run.record_type):  # a bulk import's worker died: built again now
                _indexes_build(run, pipeline)
            if not deferred:  # a small import leaves the lock to a large one starting meanwhile
                bulk.lock_release()
                held = False
        try:
            status, error = _write_batches(run, pipeline, bulk_mode=deferred)
        except Exception:
            if deferred:
                _indexes_build(run, pipeline)
            raise
        if deferred:
            _indexes_build(run, pipeline)
        elif run.attempts > 1 and not run.dry_run and run.record_type in bulk.TABLES:  # an earlier attempt's
            pipeline.words_add()  # batches may have deferred their words
        return _finish(run, status, pipeline, error=error)
    finally:
        if held:
            bulk.lock_release()


def _indexes_build(run: Import, pipeline: Pipeline) -> None:
    """Build the indexes a bulk import deferred, the import showing phase "indexing" meanwhile (at 1M leads
    about a minute with every row written: not stuck)."""
    Import.objects.filter(pk=run.pk).update(phase=ImportPhase.INDEXING)

    def beside_the_builds() -> None:
        pipeline.words_add()  # the search vocabulary's words, which the batches deferred
        bulk.live_tables_analyze(run.record_type)

    # meanwhile, on a connection of its own: a GIN build keeps one core busy
    with _meanwhile(beside_the_builds):
        bulk.indexes_build(run.record_type)


@contextmanager
def _meanwhile(work: Callable[[], None]) -> Iterator[None]:
    """`work` on a connection of its own (a thread in the organization) while the block runs, its error
    raised after the block; inline first when a caller's transaction holds this connection (tests: another
    connection would not see the import's tables)."""
    if connection.in_atomic_block:
        work()
        yield
        return
    organization = current_organization()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with organization_context(organization):
                work()
        except BaseException as error:
            errors.append(error)
        finally:
            thread_connections_close()

    thread = threading.Thread(target=run, name="import-meanwhile")
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if errors:
        raise errors[0]


def _write_batches(run: Import, pipeline: Pipeline, *, bulk_mode: bool = False) -> tuple[str, str]:
    """Write batch after batch from the checkpoint; returns the import's final status and error. In bulk mode
    the batches leave the search vocabulary to the end (_indexes_build), and IMPORT_WRITERS connections write
    at once when the plan sets no records limit and no caller's transaction holds this one (tests)."""
    writers = settings.IMPORT_WRITERS if bulk_mode and not run.dry_run else 1
    if writers > 1 and not connection.in_atomic_block and record_create_room() is None:
        return _write_together(run, pipeline, writers)
    total = run.rows_read or 0
    while run.checkpoint < total:
        if Import.objects.filter(pk=run.pk, cancel_requested=True).exists():
            return ImportStatus.CANCELLED, ""
        high = min(run.checkpoint + BATCH_ROWS, total)
        room = None if run.dry_run else record_create_room()  # rows past the plan's records limit: refused
        if room is not None and room <= 0:
            return ImportStatus.FAILED, PLAN_LIMIT_ERROR.format(row=run.checkpoint)
        high = high if room is None else min(high, run.checkpoint + room)
        with transaction.atomic():
            with words_deferred() if bulk_mode else nullcontext():
                counts = pipeline.write_batch(run.checkpoint, high, dry_run=run.dry_run)
            _batch_done(run, checkpoint=high, counts=counts)
        if after_batch is not None:
            after_batch(run)
    return ImportStatus.DONE, ""


class ImportOrderBroken(RuntimeError):
    """A bulk import's batch found the batch before it rolled back: it rolls back too (the import's attempt
    fails with the first batch's error, and its retry resumes at the checkpoint)."""


def _write_together(run: Import, pipeline: Pipeline, writers: int) -> tuple[str, str]:
    """Bulk mode's batches on `writers` connections at once (this one and writers - 1 threads of its own),
    committed in file order, so that the checkpoint still says which rows are written. Measured at 1M rows:
    the batches' statements are CPU work in PostgreSQL, and a second connection uses the second core.

    Batch k's transaction first takes the transaction-scoped advisory lock (import, k), under a lock that
    hands the batches out in order; its rows written, it waits for the lock of batch k - 1 (held until that
    batch commits or rolls back) and checks the checkpoint is where batch k starts, then moves it and commits.
    Every wait is in PostgreSQL, so a wait that could never end would be a deadlock PostgreSQL detects and
    breaks (failing the attempt), never a hang; the vocabulary, where two batches could wait for each other's
    commit, is added once at the end."""
    organization = current_organization()
    total = run.rows_read or 0
    bounds = [(low, min(low + BATCH_ROWS, total)) for low in range(run.checkpoint, total, BATCH_ROWS)]
    key = f"{connection.schema_name}:imports:{run.pk}:batches"
    handing_out = threading.Lock()
    state: dict[str, Any] = {"next": 0, "cancelled": False}
    errors: list[BaseException] = []

    def batch_take() -> tuple[int, int, int] | None:
        """The next batch (index, low, high) with its lock taken in this transaction, or None: all handed
        out, cancelled, or another writer failed."""
        with handing_out:
            if errors or state["cancelled"] or state["next"] >= len(bounds):
                return None
            if Import.objects.filter(pk=run.pk, cancel_requested=True).exists():
                state["cancelled"] = True
                return None
            index = state["next"]
            state["next"] += 1
            fetchall("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", [key, index])
            return (index, *bounds[index])

    def write() -> None:
        mine = Import.objects.get(pk=run.pk)
        while not errors:
            with transaction.atomic():
                taken = batch_take()
                if taken is None:
                    return
                index, low, high = taken
                with words_deferred():
                    counts = pipeline.write_batch(low, high, dry_run=False)
                if index > 0:  # the batch before this one: committed (its lock free) and the checkpoint moved
                    fetchall("SELECT pg_advisory_xact_lock_shared(hashtext(%s), %s)", [key, index - 1])
                if Import.objects.filter(pk=run.pk).values_list("checkpoint", flat=True)[0] != low:
                    raise ImportOrderBroken(f"the batch before row {low} was not written")
                _batch_done(mine, checkpoint=high, counts=counts)
            if after_batch is not None:
                after_batch(mine)

    def writer(in_thread: bool) -> None:
        try:
            if not in_thread:
                write()
                return
            try:
                with organization_context(organization):
                    write()
            finally:
                thread_connections_close()
        except BaseException as error:  # a simulated kill too: the import's own thread raises it below
            errors.append(error)

    threads = [
        threading.Thread(target=writer, args=(True,), name=f"import-{run.pk}-writer-{n}")
        for n in range(1, writers)
    ]
    for thread in threads:
        thread.start()
    try:
        writer(False)
    finally:
        for thread in threads:
            thread.join()
    if errors:  # the first to fail; the others are its consequences (ImportOrderBroken)
        raise next((error for error in errors if not isinstance(error, ImportOrderBroken)), errors[0])
    run.refresh_from_db()
    if state["cancelled"]:
        return ImportStatus.CANCELLED, ""
    return ImportStatus.DONE, ""


def _stored_rows(run: Import) -> Iterator[tuple[int, int, str, tuple[str, ...]]]:
    stored = ImportChunk.objects.filter(import_run=run).order_by("seq").values_list("data", flat=True)
    fields = sorted(run.mapping, key=lambda name: run.mapping[name])
    return csvio.iter_rows(
        (bytes(data) for data in stored.iterator(chunk_size=1)),
        encoding=run.encoding,
        delimiter=run.delimiter,
        has_header=run.has_header,
        width=len(run.header),
        columns=[run.mapping[name] for name in fields],
        max_rows=settings.IMPORT_MAX_ROWS,
    )


def _task_import_run(run: Import) -> Import:
    """A task import (tenant_apps.imports.tasks): rows through the tasks' service, in batches that commit
    their tasks, errors and counts with the checkpoint, so that a retried job resumes after the last one."""
    if run.cancel_requested:
        return _finish(run, ImportStatus.CANCELLED)
    Import.objects.filter(pk=run.pk).update(
        status=ImportStatus.RUNNING,
        phase=ImportPhase.WRITING,
        attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), timezone.now()),
    )
    run.refresh_from_db()
    fields = sorted(run.mapping, key=lambda name: run.mapping[name])
    try:
        batch: list[tuple[int, int, str, tuple[str, ...]]] = []
        read = 0
        for row in _stored_rows(run):
            read = row[0]
            if read > run.checkpoint:
                batch.append(row)
            if len(batch) >= TASK_BATCH_ROWS:
                if Import.objects.filter(pk=run.pk, cancel_requested=True).exists():
                    return _finish(run, ImportStatus.CANCELLED)
                _task_batch(run, batch, fields)
                batch = []
        _task_batch(run, batch, fields, rows_read=read)
    except (ImportFileError, UnicodeDecodeError) as error:
        return _finish(run, ImportStatus.FAILED, error=str(error))
    return _finish(run, ImportStatus.DONE)


def _task_batch(
    run: Import,
    batch: list[tuple[int, int, str, tuple[str, ...]]],
    fields: list[str],
    rows_read: int | None = None,
) -> None:
    with transaction.atomic():
        counts = task_rows_write(run, batch, fields)
        done: dict[str, Any] = {} if rows_read is None else {"rows_read": rows_read}
        _batch_done(run, checkpoint=batch[-1][0] if batch else run.checkpoint, counts=counts, **done)


def _batch_done(run: Import, *, checkpoint: int, counts: Counts, **also: Any) -> None:
    """A written batch's outcome and checkpoint, in its transaction, and its progress after commit."""
    Import.objects.filter(pk=run.pk).update(
        checkpoint=checkpoint,
        imported=F("imported") + counts.imported,
        updated=F("updated") + counts.updated,
        skipped=F("skipped") + counts.skipped,
        failed=F("failed") + counts.failed,
        warnings=F("warnings") + counts.warnings,
        **also,
    )
    run.refresh_from_db()
    publish_on_commit("import.progress", record_id=run.pk, actor_id=run.created_by_id, **progress_data(run))


def _finish(run: Import, status: str, pipeline: Pipeline | None = None, *, error: str = "") -> Import:
    if pipeline is not None and status == ImportStatus.DONE and not run.dry_run:
        pipeline.settle_indexes()
    with transaction.atomic():
        if pipeline is not None:
            pipeline.drop()
        _delete_file(run)
        Import.objects.filter(pk=run.pk).update(
            status=status, phase=ImportPhase.FINISHED, finished_at=timezone.now(), error=error
        )
        run.refresh_from_db()
        publish_on_commit(
            f"import.{status}", record_id=run.pk, actor_id=run.created_by_id, **progress_data(run)
        )
    return run


@transaction.atomic
def import_cancel(*, import_id: int, actor: User) -> Import:
    """A queued import is cancelled at once; a running one stops after its current batch (what it wrote
    stays, and can be reverted). A finished import has nothing to cancel (409)."""
    run = Import.objects.select_for_update().filter(pk=import_id).first()
    if run is None:
        raise ImportNotFound(id=import_id)
    if run.status == ImportStatus.QUEUED:
        return _finish(run, ImportStatus.CANCELLED)
    if run.status != ImportStatus.RUNNING:
        raise ImportNotCancellable(status=run.status)
    if not run.cancel_requested:
        run.cancel_requested = True
        run.save(update_fields=["cancel_requested"])
        publish_on_commit("import.cancel_requested", record_id=run.pk, actor_id=actor.pk)
    return run


@transaction.atomic
def import_revert(*, import_id: int, actor: User) -> Import:
    """Queue the undoing of a finished (done or cancelled) import, once: the records it created are
    soft-deleted (restorable, with their timelines, like lead_delete), and the records it updated get their
    previous values back, field by field, where nobody changed the field since. (Tasks have no soft delete:
    a task import is not reverted; its tasks are cancelled or deleted like any other.)"""
    run = Import.objects.select_for_update().filter(pk=import_id).first()
    if run is None:
        raise ImportNotFound(id=import_id)
    if run.record_type == RecordType.TASK:
        raise ImportNotRevertible("A task import cannot be reverted.", status=run.status)
    if run.dry_run or run.status not in (ImportStatus.DONE, ImportStatus.CANCELLED):
        raise ImportNotRevertible(status=run.status, dry_run=run.dry_run)
    if not ImportChange.objects.filter(import_run=run).exists():
        raise ImportNotRevertible("This import created and updated nothing.", status=run.status)
    run.status = ImportStatus.REVERTING
    run.reverted = {"removed": 0, "restored": 0, "conflicts": 0}
    run.reverted_by = actor
    run.save(update_fields=["status", "reverted", "reverted_by"])
    _enqueue("import_revert_job", run.pk)
    publish_on_commit("import.reverting", record_id=run.pk, actor_id=actor.pk)
    return run


def import_revert_run(*, import_id: int) -> Import:
    """Revert in batches of changes, each committed with its checkpoint (safe to run twice, resumable)."""
    with _exclusive(f"revert:{import_id}") as mine:
        run = Import.objects.filter(pk=import_id).first()
        if run is None:
            raise ImportNotFound(id=import_id)
        if not mine or run.status != ImportStatus.REVERTING:
            return run
        pipeline = _pipeline(run)
        while True:
            with transaction.atomic():
                high = _revert_batch_end(run)
                if high is None:
                    break
                counts = pipeline.revert_batch(
                    run.revert_checkpoint, high, actor_id=run.reverted_by_id, now=timezone.now()
                )
                totals = {key: run.reverted.get(key, 0) + value for key, value in counts.items()}
                Import.objects.filter(pk=run.pk).update(revert_checkpoint=high, reverted=totals)
                run.refresh_from_db()
            if after_batch is not None:
                after_batch(run)
        with transaction.atomic():
            Import.objects.filter(pk=run.pk).update(status=ImportStatus.REVERTED, reverted_at=timezone.now())
            run.refresh_from_db()
            publish_on_commit(
                "import.reverted", record_id=run.pk, actor_id=run.reverted_by_id, **run.reverted
            )
        return run


def _revert_batch_end(run: Import) -> int | None:
    """The last change of the next revert batch: about REVERT_BATCH records (a created batch at least)."""
    changes = (
        ImportChange.objects.filter(import_run=run, id__gt=run.revert_checkpoint)
        .order_by("id")
        .annotate(
            records=Coalesce(Func(F("record_ids"), function="cardinality", output_field=IntegerField()), 0)
        )
        .values_list("id", "kind", "records")[:REVERT_BATCH]
    )
    high, total = None, 0
    for change_id, kind, records in changes:
        if high is not None and total + (records if kind == ChangeKind.CREATED else 1) > REVERT_BATCH:
            break
        high = change_id
        total += records if kind == ChangeKind.CREATED else 1
    return high


# --- exports ---------------------------------------------------------------------------------------------


def export_create(*, actor: User, record_type: Any, filters: dict[str, Any]) -> Export:
    """Queue an export of the rows a list with these (validated) filters shows the actor, as a CSV file."""
    if record_type not in ExportType.values:
        raise InvalidInput("record_type", f"Expected one of {', '.join(ExportType.values)}.")
    stored = json.loads(json.dumps(filters, cls=DjangoJSONEncoder))
    with transaction.atomic():
        export = Export.objects.create(record_type=record_type, filters=stored, created_by=actor)
        _enqueue("export_run_job", export.pk)
    return export


def export_run(*, export_id: int) -> Export:
    """Write the export's file (under EXPORTS_DIR/<schema>/, renamed into place when complete), with the
    creator's visibility. Safe to run twice: a finished export is left alone; a partial file is rewritten."""
    from tenant_apps.imports import selectors

    with _exclusive(f"export:{export_id}") as mine:
        export = Export.objects.select_related("created_by").filter(pk=export_id).first()
        if export is None or not mine or export.status in (ExportStatus.DONE, ExportStatus.FAILED):
            return export  # type: ignore[return-value]
        if export.created_by is None:  # whose visibility would apply? nobody's: refuse
            Export.objects.filter(pk=export.pk).update(
                status=ExportStatus.FAILED, error="The member who asked for it no longer exists."
            )
            export.refresh_from_db()
            return export
        Export.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING)
        directory = exports_dir()
        directory.mkdir(parents=True, exist_ok=True)
        name = f"export-{export.pk}.csv"
        partial = directory / f"{name}.part"
        try:
            query = selectors.export_query(
                record_type=export.record_type, actor=export.created_by, filters=dict(export.filters)
            )
            stream = selectors.ExportStream(query)
            with open(partial, "wb") as out:
                for chunk in stream:
                    out.write(chunk)
            rows = stream.rows
            os.replace(partial, directory / name)
        except Exception as error:
            partial.unlink(missing_ok=True)
            if _last_attempt():
                Export.objects.filter(pk=export.pk).update(
                    status=ExportStatus.FAILED,
                    error=f"{type(error).__name__}: {error}"[:2000],
                    finished_at=timezone.now(),
                )
            raise
        Export.objects.filter(pk=export.pk).update(
            status=ExportStatus.DONE,
            rows=rows,
            size_bytes=(directory / name).stat().st_size,
            file_name=name,
            finished_at=timezone.now(),
        )
        export.refresh_from_db()
        return export
