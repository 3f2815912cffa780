# ruff: noqa: S608  (SQL is built from model table names, quoted identifiers and quote()d literals only)
"""Loading: the stored file streamed into the staging table with COPY, then the values SQL cannot normalize
fixed in Python."""

from __future__ import annotations

import csv
import multiprocessing
import signal
import tempfile
from collections import deque
from typing import IO, Any

from django.conf import settings
from django.db import transaction

from shared_apps.core.db import connection
from tenant_apps.imports import csvio
from tenant_apps.imports import custom as custom_fields
from tenant_apps.imports.exceptions import ImportFileError
from tenant_apps.imports.expressions import tags_cell, unescaped_cell
from tenant_apps.imports.models import ImportChunk
from tenant_apps.imports.pipeline.sql import execute, fetchall
from tenant_apps.imports.pipeline.tables import Tables
from tenant_apps.records import normalize

CUSTOM_SLICE = 20_000  # rows whose custom cells are cleaned at a time
PHONE_SLICE = 20_000  # rows whose phones a worker process normalizes at a time


class Loading(Tables):
    """The stored file into the staging table (a step of `build`)."""

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
        # phone numbers to E.164 need libphonenumber's tables: normalized here as the file is read, by the
        # same function as the record services (one rule)
        phone_at = self.fields.index("phone") if "phone" in self.fields else None
        if phone_at is not None:
            staged.append("c_phone_norm")
        # custom cells are staged as read and cleaned after the COPY (_custom_values): cleaning may query
        staged += [f"c_{mapped.column}" for mapped in self.custom]
        region = normalize.phone_region()
        bad = [f"c_{mapped.column}_bad" for mapped in self.custom]
        execute(
            f"CREATE UNLOGGED TABLE {self.staging} (n bigint, line bigint, bad text, "
            f"{', '.join(f'{column} text' for column in [*staged, *bad])})"
        )
        rows = csvio.iter_rows(
            iter(lambda: spool.read(1 << 20), b""),
            encoding=encoding,
            delimiter=self.run.delimiter,
            has_header=self.run.has_header,
            width=len(self.run.header),
            columns=[self.run.mapping[name] for name in [*self.fields, *(m.name for m in self.custom)]],
            max_rows=settings.IMPORT_MAX_ROWS,
        )
        target = ", ".join(["n", "line", "bad", *staged])
        buffer = _Lines()
        writer = csv.writer(buffer, lineterminator="\n")
        count = 0
        strip = str.strip
        extra = list(self.run.tags)
        width = len(self.fields)
        # phones are the costly cells (libphonenumber in Python, ~50 us each): past the first slice of a
        # large file they are normalized in worker processes, a slice at a time, while this one reads on
        workers = settings.IMPORT_PHONE_WORKERS if phone_at is not None else 0
        pool: Any = None
        pending: deque[tuple[list[tuple[Any, ...]], Any]] = deque()
        rows_of_slice: list[tuple[Any, ...]] = []
        try:
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY {self.staging} ({target}) FROM STDIN (FORMAT csv)") as copy,
            ):

                def emit(rows_done: list[tuple[Any, ...]], phones: list[str] | None) -> None:
                    for at, (head, derived, phone_raw, own) in enumerate(rows_done):
                        if phone_at is not None:
                            phone = phones[at] if phones is not None else _phone(phone_raw, region)
                            derived = (*derived, phone)
                        writer.writerow((*head, *derived, *own))
                        if len(buffer.parts) >= 4096:
                            copy.write(buffer.take())

                def slice_done(last: bool) -> None:
                    nonlocal pool, rows_of_slice
                    if workers and pool is None and not last:
                        pool = multiprocessing.get_context("fork").Pool(workers, initializer=_worker_start)
                    if pool is None:
                        emit(rows_of_slice, None)
                    else:
                        cells = [row[2] for row in rows_of_slice]
                        pending.append((rows_of_slice, pool.apply_async(_phones, (cells, region))))
                        while pending and (last or len(pending) > workers):
                            done, result = pending.popleft()
                            emit(done, result.get())
                    rows_of_slice = []

                for number, line, problem, values in rows:
                    cells = tuple(map(strip, values))
                    derived: tuple[str | None, ...] = ()
                    if tags_at is not None:
                        derived = tags_cell(cells[tags_at], extra)
                    # the file's custom cells come after the fields' (see `columns`)
                    own = cells[width:] if self.custom else ()
                    if self.custom:
                        cells = cells[:width]
                    phone_raw = cells[phone_at] if phone_at is not None else ""
                    rows_of_slice.append(((number, line, problem, *cells), derived, phone_raw, own))
                    count = number
                    if len(rows_of_slice) >= PHONE_SLICE:
                        slice_done(last=False)
                slice_done(last=True)
                copy.write(buffer.take())
            if pool is not None:
                pool.close()
                pool.join()
                pool = None
        finally:
            if pool is not None:
                pool.terminate()
        return count

    def _custom_values(self) -> None:
        """The custom cells cleaned by the API's rules (imports.custom), a slice of rows at a time:
        each value as its JSON text, or why the cell is wrong."""
        if not self.custom:
            return
        reader = custom_fields.CellReader(self.custom, currency=self.ctx.currency)
        execute(f"CREATE INDEX ON {self.staging} (n)")
        raw = [f"c_{mapped.column}" for mapped in self.custom]
        sets = ", ".join(f"{column} = x.{column}, {column}_bad = x.{column}_bad" for column in raw)
        after = 0
        while True:
            rows = fetchall(
                f"SELECT n, {', '.join(raw)} FROM {self.staging} WHERE n > %s ORDER BY n LIMIT %s",
                [after, CUSTOM_SLICE],
            )
            if not rows:
                return
            cleaned = [(row[0], *reader.read(tuple(cell or "" for cell in row[1:]))) for row in rows]
            pairs = [name for column in raw for name in (column, f"{column}_bad")]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS import_custom_slice (n bigint, "
                    f"{', '.join(f'{name} text' for name in pairs)}) ON COMMIT DROP"
                )
                cursor.execute("TRUNCATE import_custom_slice")
                with cursor.copy(f"COPY import_custom_slice (n, {', '.join(pairs)}) FROM STDIN") as copy:
                    for row in cleaned:
                        copy.write_row(row)
            execute(f"UPDATE {self.staging} s SET {sets} FROM import_custom_slice x WHERE s.n = x.n")
            after = rows[-1][0]

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


def _phone(cell: str, region: str) -> str:
    return normalize.phone_or_blank(unescaped_cell(cell), region)


def _phones(cells: list[str], region: str) -> list[str]:
    """A slice of phone cells normalized, in a worker process."""
    return [_phone(cell, region) for cell in cells]


def _worker_start() -> None:
    """A phone worker leaves signals to its parent (an rq work horse's handlers would act in it too)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Lines:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        data = "".join(self.parts)
        self.parts.clear()
        return data
