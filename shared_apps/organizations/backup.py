"""Per-organization backup, restore and export.

A backup is one gzipped tar: `schema.sql` (pg_dump of the organization's schema, plain format),
`organization.json` (its public rows: the Organization and its Domains) and `manifest.json` (row counts per
table, versions). Restore replays the dump through Django's own connection, inside one transaction with the
new Organization and Domain rows, so a failure leaves nothing behind and it lands in whichever database
DATABASE_URL names. The dump qualifies every name with the schema; when restoring under another slug the
schema name is rewritten in the DDL only (never in the COPY data), then the organization is recreated with
`schema_name_for(slug)`.

An export is what a customer leaving takes: one JSON-lines file per table of the schema plus a manifest,
without credentials (password hashes, tokens, API keys, webhook secrets) or Django's bookkeeping tables.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django_tenants.utils import schema_exists

from shared_apps.core.db import connection
from shared_apps.core.errors import Conflict, InvalidInput
from shared_apps.organizations.exceptions import SlugTaken
from shared_apps.organizations.models import (
    Domain,
    Organization,
    OrganizationStatus,
    schema_name_for,
)
from shared_apps.organizations.services import validate_slug

FORMAT_VERSION = 1
# Bookkeeping and credentials: not the customer's data, and secrets must not leave in an export.
EXPORT_SKIPPED_TABLES = frozenset(
    {
        "django_migrations",
        "django_content_type",
        "django_session",
        "auth_permission",
        "auth_group_permissions",
        "users_user_user_permissions",
        "users_authtoken",
        "users_apikey",
    }
)
EXPORT_SECRET_COLUMN = re.compile(r"^(password|secret|.*_secret|.*_hash)$")


def _database() -> dict[str, Any]:
    return settings.DATABASES["default"]


def _server_major() -> int:
    with connection.cursor() as cursor:
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


def pg_tool(name: str) -> str:
    """The client tool matching the server's major version: Debian's versioned install, the embedded
    pgserver's, or the one on PATH (pg_dump refuses servers newer than itself)."""
    major = _server_major()
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


def _pg_env() -> dict[str, str]:
    db = _database()
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


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def table_counts(schema: str) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", [schema])
        tables = [row[0] for row in cursor.fetchall()]
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {_quote(schema)}.{_quote(table)}")  # noqa: S608
            counts[table] = int(cursor.fetchone()[0])
    return counts


def _public_rows(organization: Organization) -> dict[str, Any]:
    return {
        "organization": {
            "name": organization.name,
            "slug": organization.slug,
            "schema_name": organization.schema_name,
            "status": organization.status,
            "plan": organization.plan,
            "default_currency": organization.default_currency,
            "reps_see_all_leads": organization.reps_see_all_leads,
            "created_at": organization.created_at.isoformat(),
        },
        "domains": [
            {"domain": d.domain, "is_primary": d.is_primary}
            for d in Domain.objects.filter(tenant=organization).order_by("-is_primary", "domain")
        ],
    }


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    archive.addfile(info, io.BytesIO(data))


def organization_backup(*, organization: Organization, path: str | Path) -> dict[str, Any]:
    """Dump one organization's schema and its public rows into one .tar.gz. Returns the manifest.

    The dump is pg_dump's own snapshot; the row counts in the manifest are read right after it, so they
    describe the dump exactly only when nothing writes meanwhile (suspend the organization first)."""
    if organization.status == OrganizationStatus.TEMPLATE:
        raise InvalidInput("slug", "The template is not an organization.", code="template")
    connection.set_schema_to_public()
    dump = subprocess.run(  # noqa: S603 (argument list, no shell; the schema name comes from our table)
        [
            pg_tool("pg_dump"),
            "--schema",
            organization.schema_name,
            "--no-owner",
            "--no-privileges",
            "--format=plain",
            "--encoding=UTF8",
        ],
        env=_pg_env(),
        capture_output=True,
        check=False,
    )
    if dump.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {dump.stderr.decode(errors='replace').strip()}")
    manifest = {
        "format": FORMAT_VERSION,
        "kind": "leadpulse-organization-backup",
        "slug": organization.slug,
        "schema_name": organization.schema_name,
        "created_at": datetime.now(UTC).isoformat(),
        "server_version": _server_major(),
        "tables": table_counts(organization.schema_name),
    }
    with tarfile.open(path, "w:gz") as archive:
        _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
        _add_bytes(archive, "organization.json", json.dumps(_public_rows(organization), indent=2).encode())
        _add_bytes(archive, "schema.sql", dump.stdout)
    return manifest


def _read_backup(path: str | Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    try:
        with tarfile.open(path, "r:gz") as archive:

            def read(name: str) -> bytes:
                member = archive.extractfile(name)
                if member is None:
                    raise KeyError(name)
                return member.read()

            manifest = json.loads(read("manifest.json"))
            public = json.loads(read("organization.json"))
            sql = read("schema.sql").decode()
    except (OSError, KeyError, tarfile.TarError, ValueError) as exc:
        raise InvalidInput(
            "file", f"Not a LeadPulse organization backup: {exc}", code="invalid_backup"
        ) from exc
    if manifest.get("kind") != "leadpulse-organization-backup" or manifest.get("format") != FORMAT_VERSION:
        raise InvalidInput("file", "Not a LeadPulse organization backup (format).", code="invalid_backup")
    return manifest, public, sql


_COPY_HEADER = re.compile(r"^COPY .* FROM stdin;$")


def _segments(sql: str) -> list[tuple[str, str]]:
    """Split a plain dump into ("sql", text) and ("copy", header + data) segments."""
    segments: list[tuple[str, str]] = []
    buffer: list[str] = []
    lines = iter(sql.splitlines(keepends=True))
    for line in lines:
        if _COPY_HEADER.match(line.rstrip("\n")):
            segments.append(("sql", "".join(buffer)))
            buffer = []
            data = []
            for row in lines:
                if row.rstrip("\n") == "\\.":
                    break
                data.append(row)
            segments.append(("copy", line.rstrip("\n")[: -len(" FROM stdin;")] + "\n" + "".join(data)))
            continue
        buffer.append(line)
    segments.append(("sql", "".join(buffer)))
    return segments


def _rename_schema_in_ddl(text: str, old: str, new: str) -> str:
    if old == new:
        return text
    # pg_dump writes the schema unquoted when it is a plain lowercase identifier, quoted otherwise.
    text = text.replace(f'"{old}".', f'"{new}".').replace(f'"{old}";', f'"{new}";')
    return re.sub(rf'(?<![\w"$]){re.escape(old)}(?=[.;\s])', new, text)


def _prepare_sql(text: str) -> str:
    # Session-wide settings would outlive the restore on Django's connection: keep them to this transaction,
    # and leave search_path alone (every name in the dump is qualified; django-tenants tracks search_path).
    text = re.sub(r"^SET (?!LOCAL)", "SET LOCAL ", text, flags=re.MULTILINE)
    # psql meta-commands (recent pg_dump brackets its output with \restrict / \unrestrict) are not SQL
    text = re.sub(r"^\\\S+.*$", "", text, flags=re.MULTILINE)
    return re.sub(r"^SELECT pg_catalog\.set_config\('search_path'.*$", "", text, flags=re.MULTILINE)


@transaction.atomic
def organization_restore(*, path: str | Path, slug: str | None = None) -> Organization:
    """Recreate an organization from a backup under its own slug or a new one, in one transaction.

    Refused when a live organization has the slug (409) or its schema name is taken."""
    manifest, public, sql = _read_backup(path)
    slug = validate_slug(slug or manifest["slug"])
    connection.set_schema_to_public()
    if Organization.objects.filter(slug=slug).exclude(status=OrganizationStatus.DELETED).exists():
        raise SlugTaken(slug=slug)
    schema_name = schema_name_for(slug)
    if schema_exists(schema_name) or Organization.objects.filter(schema_name=schema_name).exists():
        raise Conflict("A schema with this name already exists.", code="schema_exists", slug=slug)

    old = manifest["schema_name"]
    with connection.cursor() as cursor:
        for kind, text in _segments(sql):
            if kind == "sql":
                statements = _prepare_sql(_rename_schema_in_ddl(text, old, schema_name))
                if statements.strip():
                    cursor.execute(statements)
            else:
                header, _, data = text.partition("\n")
                header = _rename_schema_in_ddl(header, old, schema_name) + " FROM STDIN"
                with cursor.cursor.copy(header) as copy:  # type: ignore[attr-defined]
                    copy.write(data)
    connection.set_schema_to_public()

    source = public["organization"]
    status = (
        source["status"] if source["status"] == OrganizationStatus.SUSPENDED else OrganizationStatus.ACTIVE
    )
    organization = Organization.objects.create(
        name=source["name"],
        slug=slug,
        schema_name=schema_name,
        status=status,
        plan=source["plan"],
        default_currency=source["default_currency"],
        reps_see_all_leads=source["reps_see_all_leads"],
    )
    Domain.objects.create(domain=f"{slug}.{settings.BASE_DOMAIN}", tenant=organization, is_primary=True)
    if slug == source["slug"]:
        # custom domains come back only with their own organization, and only if nobody took them since
        for domain in public["domains"]:
            if not domain["is_primary"] and not Domain.objects.filter(domain=domain["domain"]).exists():
                Domain.objects.create(domain=domain["domain"], tenant=organization, is_primary=False)
    return organization


def organization_export(*, organization: Organization, path: str | Path) -> dict[str, Any]:
    """Every table of the organization's schema as JSON lines (one object per row) plus a manifest.

    Rows are rendered by PostgreSQL (row_to_json) and streamed in batches; secret columns are dropped."""
    if organization.status == OrganizationStatus.TEMPLATE:
        raise InvalidInput("slug", "The template is not an organization.", code="template")
    schema = organization.schema_name
    connection.set_schema_to_public()
    tables: dict[str, Any] = {}
    with connection.cursor() as cursor, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        cursor.execute(
            "SELECT table_name, array_agg(column_name::text ORDER BY ordinal_position) "
            "FROM information_schema.columns WHERE table_schema = %s GROUP BY table_name ORDER BY table_name",
            [schema],
        )
        for table, columns in cursor.fetchall():
            if table in EXPORT_SKIPPED_TABLES:
                continue
            kept = [c for c in columns if not EXPORT_SECRET_COLUMN.match(c)]
            select = ", ".join(_quote(c) for c in kept)
            cursor.execute(
                f"SELECT row_to_json(r)::text FROM (SELECT {select} FROM {_quote(schema)}.{_quote(table)} "  # noqa: S608
                f"ORDER BY 1) r"
            )
            count = 0
            with archive.open(f"{table}.jsonl", "w") as out:
                while batch := cursor.fetchmany(2000):
                    out.write("".join(row[0] + "\n" for row in batch).encode())
                    count += len(batch)
            tables[table] = {"file": f"{table}.jsonl", "rows": count, "columns": kept}
        manifest = {
            "kind": "leadpulse-organization-export",
            "format": FORMAT_VERSION,
            "organization": {"slug": organization.slug, "name": organization.name},
            "exported_at": datetime.now(UTC).isoformat(),
            "tables": tables,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return manifest
