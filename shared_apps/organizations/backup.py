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
import re
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
from shared_apps.organizations import pgdump, placement
from shared_apps.organizations.exceptions import SlugTaken
from shared_apps.organizations.models import (
    Domain,
    Organization,
    OrganizationStatus,
    schema_name_for,
)
from shared_apps.organizations.services import schema_drop, validate_slug

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


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def table_counts(schema: str, *, on: Any = None) -> dict[str, int]:
    """Exact row counts of every table of `schema`, on the active database or on connection `on`."""
    with (on or connection).cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", [schema])
        tables = [row[0] for row in cursor.fetchall()]
        if not tables:
            return {}
        # one statement: a round trip per table adds up on a remote database
        cursor.execute(
            " UNION ALL ".join(
                f"SELECT {_literal(table)}, count(*) FROM {_quote(schema)}.{_quote(table)}"  # noqa: S608
                for table in tables
            )
        )
        return {str(table): int(count) for table, count in cursor.fetchall()}


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


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
            "time_zone": organization.time_zone,
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
    with placement.using(organization.database):
        dump = schema_dump(organization.schema_name)
        manifest = {
            "format": FORMAT_VERSION,
            "kind": "leadpulse-organization-backup",
            "slug": organization.slug,
            "schema_name": organization.schema_name,
            "created_at": datetime.now(UTC).isoformat(),
            "server_version": pgdump.server_major(),
            "tables": table_counts(organization.schema_name),
        }
    with tarfile.open(path, "w:gz") as archive:
        _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
        _add_bytes(archive, "organization.json", json.dumps(_public_rows(organization), indent=2).encode())
        _add_bytes(archive, "schema.sql", dump)
    return manifest


def schema_dump(schema: str) -> bytes:
    """pg_dump of one schema (DDL and data, plain SQL) from the active database."""
    return pgdump.dump_schema(schema)


def schema_replay(sql: str, *, old: str, new: str) -> None:
    """Replay a `schema_dump` into the active database, renaming schema `old` to `new` in the DDL only
    (never in the data). Runs in the caller's transaction."""
    with connection.cursor() as cursor:
        pgdump.replay(cursor, pgdump.prepared_segments(sql), old=old, new=new)
    connection.set_schema_to_public()


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


@transaction.atomic
def organization_restore(
    *, path: str | Path, slug: str | None = None, database: str | None = None
) -> Organization:
    """Recreate an organization from a backup under its own slug or a new one, on the primary or another
    database (`database`, else NEW_ORGANIZATION_DATABASE), in one transaction (on another database: that
    database's transaction, committed first; the schema is dropped again if recording the organization on
    the primary fails).

    Refused when a live organization has the slug (409) or its schema name is taken."""
    manifest, public, sql = _read_backup(path)
    slug = validate_slug(slug or manifest["slug"])
    database = placement.validate_database(database or settings.NEW_ORGANIZATION_DATABASE)
    connection.set_schema_to_public()
    if Organization.objects.filter(slug=slug).exclude(status=OrganizationStatus.DELETED).exists():
        raise SlugTaken(slug=slug)
    schema_name = schema_name_for(slug)
    with placement.using(database):
        taken = schema_exists(schema_name)
    if taken or Organization.objects.filter(schema_name=schema_name).exists():
        raise Conflict("A schema with this name already exists.", code="schema_exists", slug=slug)

    with placement.using(database), transaction.atomic():
        schema_replay(sql, old=manifest["schema_name"], new=schema_name)
    if database != placement.DEFAULT:
        try:
            return _restore_rows(public, slug=slug, schema_name=schema_name, database=database)
        except BaseException:
            schema_drop(schema_name, database=database)
            raise
    return _restore_rows(public, slug=slug, schema_name=schema_name, database=database)


def _restore_rows(public: dict[str, Any], *, slug: str, schema_name: str, database: str) -> Organization:
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
        time_zone=source.get("time_zone", "UTC"),  # backups taken before time zones have none
        database=database,
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
    with (
        placement.using(organization.database),
        connection.cursor() as cursor,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
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
