# ruff: noqa: S608  (SQL is built from model table names, quoted identifiers and quote()d literals only)
"""Loading: the stored file streamed into the staging table with COPY, then the values SQL cannot normalize
fixed in Python."""

from __future__ import annotations

import csv
import tempfile
from typing import IO

from django.db import transaction

from shared_apps.core.db import connection
from tenant_apps.imports import csvio
from tenant_apps.imports.exceptions import ImportFileError
from tenant_apps.imports.expressions import tags_cell, unescaped_cell
from tenant_apps.imports.models import ImportChunk
from tenant_apps.imports.pipeline.sql import execute, fetchall
from tenant_apps.imports.pipeline.tables import Tables
from tenant_apps.records import normalize


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
        # same function as the record services (one rule), at a few microseconds a cell
        phone_at = self.fields.index("phone") if "phone" in self.fields else None
        if phone_at is not None:
            staged.append("c_phone_norm")
        region = normalize.phone_region()
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
                derived: tuple[str | None, ...] = ()
                if tags_at is not None:
                    derived = tags_cell(cells[tags_at], extra)
                if phone_at is not None:
                    derived += (normalize.phone_or_blank(unescaped_cell(cells[phone_at]), region),)
                writer.writerow((number, line, problem, *cells, *derived))
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


class _Lines:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        data = "".join(self.parts)
        self.parts.clear()
        return data
