"""Reading uploaded CSV files (encoding, delimiter and header detection, streaming parse) and writing CSV.

Encodings: UTF-8 with or without a byte-order mark, UTF-16 with one, else Latin-1 (decoded as Windows-1252
where that defines a character, since that is what spreadsheets on Windows write). Delimiters: , ; tab |.
Quoted fields may hold delimiters, quotes and newlines. Blank lines (and rows of empty fields) are not rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tenant_apps.imports.exceptions import BadFile, ImportFileError

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
LATIN1 = "latin-1"
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", LATIN1)
# csv's default field limit (128 KiB) would turn one huge cell into an error for the whole file
csv.field_size_limit(16 * 1024 * 1024)

# Files that are something else, recognized by their first bytes.
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook?)",
    b"\xd0\xcf\x11\xe0": "an Excel 97-2003 workbook",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
}


# --- Windows-1252 over Latin-1 ---------------------------------------------------------------------------

_CP1252_TABLE = "".join(bytes([byte]).decode("cp1252", errors="ignore") or chr(byte) for byte in range(256))


class _Cp1252Latin1Decoder(codecs.IncrementalDecoder):
    def decode(self, input: Any, final: bool = False) -> str:
        return codecs.charmap_decode(input, self.errors, _CP1252_TABLE)[0]


def _search(name: str) -> codecs.CodecInfo | None:
    if name != "leadpulse_latin1":
        return None
    return codecs.CodecInfo(
        name="leadpulse_latin1",
        encode=codecs.latin_1_encode,
        decode=lambda data, errors="strict": codecs.charmap_decode(data, errors, _CP1252_TABLE),
        incrementaldecoder=_Cp1252Latin1Decoder,
    )


codecs.register(_search)


def python_codec(encoding: str) -> str:
    return "leadpulse_latin1" if encoding == LATIN1 else encoding


# --- sniffing --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sniffed:
    encoding: str
    delimiter: str
    header: list[str]  # the first row's cells (stripped); column numbers when the file has no header
    rows_in_sample: int  # data rows seen in the sample (all of them when the sample is the whole file)


def detect_encoding(sample: bytes, *, complete: bool) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        return LATIN1
    return "utf-8"


def _decode_sample(sample: bytes, encoding: str, *, complete: bool) -> str:
    try:
        return codecs.getincrementaldecoder(python_codec(encoding))().decode(sample, final=complete)
    except UnicodeDecodeError:
        raise BadFile(f"The file is not valid {encoding} text.", code="bad_encoding") from None


def _rows(text: str, delimiter: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if any(row)]


def sniff(
    sample: bytes,
    *,
    complete: bool,
    encoding: str | None = None,
    delimiter: str | None = None,
    has_header: bool = True,
) -> Sniffed:
    """Read the file's first bytes: refuse what is not a CSV file (400 naming `file`), else detect the
    encoding, the delimiter (the candidate giving the most rows with the header's column count, more than
    one) and the header. `complete` says the sample is the whole file."""
    if not sample.strip(b" \t\r\n\xef\xbb\xbf"):
        raise BadFile("The file is empty.", code="empty_file")
    for magic, what in _MAGIC.items():
        if sample.startswith(magic):
            raise BadFile(f"This is {what}, not a CSV file; export it as CSV first.", code="not_csv")
    encoding = encoding or detect_encoding(sample, complete=complete)
    if encoding != "utf-16" and b"\x00" in sample:
        raise BadFile("The file holds binary data (NUL bytes): it is not a CSV text file.", code="not_csv")
    text = _decode_sample(sample, encoding, complete=complete).lstrip("\ufeff")
    if not complete:  # the last line may be cut: parse whole lines only
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[: cut + 1] if cut > 0 else text
    controls = sum(1 for char in text if char < " " and char not in "\t\r\n")
    if controls > max(2, len(text) // 100):
        raise BadFile("The file holds binary data: it is not a CSV text file.", code="not_csv")
    best: tuple[int, int, str, list[list[str]]] | None = None
    for candidate in (delimiter,) if delimiter else DELIMITERS:
        try:
            rows = _rows(text, candidate)
        except csv.Error as error:
            raise BadFile(f"The file cannot be read as CSV: {error}.", code="not_csv") from None
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(1 for row in rows if len(row) == width)
        score = (consistent, width)
        if width > 1 and (best is None or score > best[:2]):
            best = (consistent, width, candidate, rows)
    if best is None:  # one column (or an explicit delimiter that splits nothing)
        chosen = delimiter or ","
        rows = _rows(text, chosen)
        if not rows:
            raise BadFile("The file is empty.", code="empty_file")
    else:
        chosen, rows = best[2], best[3]
    if has_header:
        header = [cell.strip() for cell in rows[0]]
        data_rows = len(rows) - 1
    else:
        header = [str(number) for number in range(1, len(rows[0]) + 1)]
        data_rows = len(rows)
    if complete and data_rows == 0:
        raise BadFile("The file has a header but no rows.", code="no_rows")
    return Sniffed(encoding=encoding, delimiter=chosen, header=header, rows_in_sample=data_rows)


def header_key(name: str) -> str:
    """'E-mail Address ' -> 'e_mail_address': how headers are matched to fields and aliases."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


# --- streaming the rows ----------------------------------------------------------------------------------


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes], *, check_nul: bool) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self._check_nul = check_nul

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            if self._check_nul and b"\x00" in chunk:
                raise ImportFileError("The file holds binary data (NUL bytes): it is not a CSV text file.")
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def iter_rows(
    chunks: Iterable[bytes],
    *,
    encoding: str,
    delimiter: str,
    has_header: bool,
    width: int,
    columns: list[int],
    max_rows: int,
) -> Iterator[tuple[int, int, str, tuple[str, ...]]]:
    """(row number, line, problem, mapped values) for every row of the file, in order. A row with another
    number of cells than the header is yielded with a problem (trailing empty cells are forgiven).

    Raises ImportFileError for what makes the whole file unreadable (binary data, bad encoding, too many
    rows) and UnicodeDecodeError when the file is not in `encoding` (the caller may retry as Latin-1)."""
    raw = _ChunkReader(chunks, check_nul=encoding != "utf-16")
    text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding=python_codec(encoding), newline="")
    reader = csv.reader(text, delimiter=delimiter)
    pick: Callable[[list[str]], tuple[str, ...]]
    if len(columns) == 1:
        only = columns[0]
        pick = lambda row: (row[only],)  # noqa: E731
    else:
        pick = operator.itemgetter(*columns)
    empty = ("",) * len(columns)
    number = 0
    previous = 0
    try:
        if has_header:
            for row in reader:
                previous = reader.line_num
                if any(row):
                    break
        for row in reader:
            line = previous + 1
            previous = reader.line_num
            if len(row) == width:
                if not any(row):
                    continue
                number += 1
                if number > max_rows:
                    raise ImportFileError(f"The file has more than {max_rows} rows.")
                yield number, line, "", pick(row)
                continue
            if not any(row):
                continue
            number += 1
            if number > max_rows:
                raise ImportFileError(f"The file has more than {max_rows} rows.")
            if len(row) > width and not any(row[width:]):
                yield number, line, "", pick(row[:width])
                continue
            problem = f"{len(row)} columns where the header has {width}"
            padded = (row + [""] * width)[:width]
            yield number, line, problem, pick(padded) if row else empty
    except csv.Error as error:
        raise ImportFileError(f"Line {previous + 1} cannot be read as CSV: {error}.") from None


# --- writing CSV (the cells and chunks: shared_apps.http.streaming) -------------------------------------


def sql_escaped(expression: str) -> str:
    """The SQL for `expression` (text) with the same formula escaping as
    shared_apps.http.streaming.escape_cell (NULL stays NULL)."""
    return (
        f"CASE WHEN left({expression}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
        f"THEN '''' || {expression} ELSE {expression} END"
    )
