"""pg_dump and its replay, shared by backups (`backup.py`) and provisioning (`cloning.py`).

A plain-format dump of one schema qualifies every name with that schema. Replaying it through Django's own
connection keeps it inside the caller's transaction (a failure leaves nothing behind); the schema name is
rewritten in the DDL only, never in COPY data.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.db import connections

Segment = tuple[str, str]  # ("sql", statements) or ("copy", "COPY <table> (<columns>)\n<data rows>")


def server_major(*, using: str = "default") -> int:
    with connections[using].cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        return int(cursor.fetchone()[0]) // 10000


def _tool_major(path: str) -> int | None:
    try:
        # the path is one of our own candidates, not input
        out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out.split(")")[-1])
    return int(match.group(1)) if match else None


@functools.cache
def _tool_for(name: str, major: int) -> str:
    candidates = [f"/usr/lib/postgresql/{major}/bin/{name}"]
    try:
        import pgserver  # the embedded server `make up` may use

        candidates.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name))
    except ImportError:
        pass
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        if os.access(candidate, os.X_OK) and _tool_major(candidate) == major:
            return candidate
    if on_path:
        return on_path
    raise RuntimeError(f"{name} for PostgreSQL {major} not found")


def pg_tool(name: str, *, using: str = "default") -> str:
    """The client tool matching the server's major version: Debian's versioned install, the embedded
    pgserver's, or the one on PATH (pg_dump refuses servers newer than itself)."""
    return _tool_for(name, server_major(using=using))


def pg_env(*, using: str = "default") -> dict[str, str]:
    """The environment that points libpq tools at the database Django knows as `using`."""
    db: dict[str, Any] = connections[using].settings_dict
    env = dict(os.environ)
    env.update(
        {
            key: str(value)
            for key, value in {
                "PGHOST": db["HOST"],
                "PGPORT": db["PORT"],
                "PGUSER": db["USER"],
                "PGPASSWORD": db["PASSWORD"],
                "PGDATABASE": db["NAME"],
            }.items()
            if value
        }
    )
    return env


def dump_schema(schema: str, *, using: str = "default", extra_args: Sequence[str] = ()) -> bytes:
    """One schema as a plain SQL dump (DDL, then COPY data), without owners or privileges."""
    dump = subprocess.run(  # noqa: S603 (argument list, no shell; the schema name comes from our table)
        [
            pg_tool("pg_dump", using=using),
            "--schema",
            schema,
            "--no-owner",
            "--no-privileges",
            "--format=plain",
            "--encoding=UTF8",
            *extra_args,
        ],
        env=pg_env(using=using),
        capture_output=True,
        check=False,
    )
    if dump.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {dump.stderr.decode(errors='replace').strip()}")
    return dump.stdout


_COPY_HEADER = re.compile(r"^COPY .* FROM stdin;$")


def segments(sql: str) -> list[Segment]:
    """Split a plain dump into ("sql", text) and ("copy", header + data) segments."""
    result: list[Segment] = []
    buffer: list[str] = []
    lines = iter(sql.splitlines(keepends=True))
    for line in lines:
        if _COPY_HEADER.match(line.rstrip("\n")):
            result.append(("sql", "".join(buffer)))
            buffer = []
            data = []
            for row in lines:
                if row.rstrip("\n") == "\\.":
                    break
                data.append(row)
            result.append(("copy", line.rstrip("\n")[: -len(" FROM stdin;")] + "\n" + "".join(data)))
            continue
        buffer.append(line)
    result.append(("sql", "".join(buffer)))
    return result


def rename_schema_in_ddl(text: str, old: str, new: str) -> str:
    if old == new:
        return text
    # pg_dump writes the schema unquoted when it is a plain lowercase identifier, quoted otherwise.
    text = text.replace(f'"{old}".', f'"{new}".').replace(f'"{old}";', f'"{new}";')
    return re.sub(rf'(?<![\w"$]){re.escape(old)}(?=[.;\s])', new, text)


def prepare_sql(text: str) -> str:
    # Session-wide settings would outlive the replay on Django's connection: keep them to this transaction,
    # and leave search_path alone (every name in the dump is qualified; django-tenants tracks search_path).
    text = re.sub(r"^SET (?!LOCAL)", "SET LOCAL ", text, flags=re.MULTILINE)
    # psql meta-commands (recent pg_dump brackets its output with \restrict / \unrestrict) are not SQL
    text = re.sub(r"^\\\S+.*$", "", text, flags=re.MULTILINE)
    return re.sub(r"^SELECT pg_catalog\.set_config\('search_path'.*$", "", text, flags=re.MULTILINE)


def prepared_segments(sql: str) -> list[Segment]:
    """`segments(sql)` with the SQL ones made fit to run on Django's connection (`prepare_sql`)."""
    return [(kind, prepare_sql(text) if kind == "sql" else text) for kind, text in segments(sql)]


def replay(cursor: Any, prepared: list[Segment], *, old: str, new: str) -> None:
    """Run prepared segments on a Django cursor, the schema `old` renamed to `new` in the DDL only."""
    for kind, text in prepared:
        if kind == "sql":
            statements = rename_schema_in_ddl(text, old, new)
            if statements.strip():
                cursor.execute(statements)
        else:
            header, _, data = text.partition("\n")
            header = rename_schema_in_ddl(header, old, new) + " FROM STDIN"
            with cursor.cursor.copy(header) as copy:
                copy.write(data)
