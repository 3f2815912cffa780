"""Migrating many organizations: find the ones behind with one query, migrate only those, in parallel.

`migrate_schemas` starts a migration run per schema (≈0.2 s each even with nothing to apply: it loads the
migration graph and reads the schema's history), so 1,000 organizations cost minutes before any work is
done. Every organization is cloned from the template and kept level with it, so an organization is up to
date exactly when its `django_migrations` holds every row the template's holds. One UNION ALL over every
schema's `django_migrations` answers that for all of them at once; only the organizations behind get a run.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django_tenants.utils import schema_exists

from shared_apps.core.db import connection
from shared_apps.observability.health import pending_migrations
from shared_apps.organizations import placement
from shared_apps.organizations.batch_migrate import migrate_schemas_batch
from shared_apps.organizations.cloning import template_capture, template_lock
from shared_apps.organizations.models import Organization

logger = logging.getLogger(__name__)


@dataclass
class MigrationReport:
    public_pending: list[str] = field(default_factory=list)
    template_pending: list[str] = field(default_factory=list)
    checked: int = 0
    behind: list[str] = field(default_factory=list)
    missing_schemas: list[str] = field(default_factory=list)
    migrated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    seconds: float = 0.0

    def lines(self) -> list[str]:
        verb = "would migrate" if self.dry_run else "migrated"
        lines = [
            f"public: {verb} {len(self.public_pending)} migration(s)"
            if self.public_pending
            else "public: up to date",
            f"template: {verb} {len(self.template_pending)} migration(s)"
            if self.template_pending
            else "template: up to date",
            f"organizations: {self.checked} checked, {len(self.behind)} behind",
        ]
        if self.behind:
            lines.append(f"{verb}: {', '.join(self.behind if self.dry_run else self.migrated)}")
        if self.missing_schemas:
            lines.append(f"schema missing (skipped): {', '.join(self.missing_schemas)}")
        for schema, error in self.failed.items():
            lines.append(f"FAILED {schema}: {error}")
        lines.append(f"done in {self.seconds:.2f} s")
        return lines


def organization_schemas(*, database: str | None = None) -> list[str]:
    """Every organization's schema but the template's, deleted ones included (as `migrate_schemas` does);
    with `database`, those placed on it only."""
    organizations = Organization.objects.exclude(schema_name__in=["public", settings.TENANT_BASE_SCHEMA])
    if database is not None:
        organizations = organizations.filter(database=database)
    return list(organizations.order_by("id").values_list("schema_name", flat=True))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def schemas_behind(schemas: list[str]) -> tuple[list[str], list[str]]:
    """(schemas missing a migration the template has applied, schemas that do not exist), in one query
    plus one per LEVEL_CHECK_CHUNK schemas.

    A schema without a `django_migrations` table is behind (its run creates the table); a schema that
    does not exist at all cannot be migrated and is reported instead."""
    template = settings.TENANT_BASE_SCHEMA
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname, c.oid IS NOT NULL FROM pg_namespace n "
            "LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = 'django_migrations' "
            "WHERE n.nspname = ANY(%s)",
            [[*schemas, template]],
        )
        existing = dict(cursor.fetchall())
        missing = [s for s in schemas if s not in existing]
        with_table = [s for s in schemas if existing.get(s)]
        behind = {s for s in schemas if s in existing and not existing[s]}
        # Rows are compared by (app, name); rows a schema has beyond the template's do not matter.
        # Identifiers and literals are quoted; the names come from the Organization table. One query per
        # LEVEL_CHECK_CHUNK schemas: planning one UNION ALL of every schema grows faster than linearly (123 s
        # for 5,000 against 1.6 s in chunks of 500) and locks every schema's table at once.
        branch = "SELECT {} AS s, app, name FROM {}.django_migrations"
        query = (
            "WITH t AS (SELECT app, name FROM {}.django_migrations), m AS ({}) "
            "SELECT m.s, count(*) FROM m JOIN t ON t.app = m.app AND t.name = m.name GROUP BY m.s "
            "HAVING count(*) = (SELECT count(*) FROM t)"
        )
        level: set[str] = set()
        for start in range(0, len(with_table), LEVEL_CHECK_CHUNK):
            chunk = with_table[start : start + LEVEL_CHECK_CHUNK]
            union = " UNION ALL ".join(branch.format(_literal(s), _quote(s)) for s in chunk)
            cursor.execute(query.format(_quote(template), union))
            level |= {row[0] for row in cursor.fetchall()}
        behind |= {s for s in with_table if s not in level}
    return [s for s in schemas if s in behind], missing


LEVEL_CHECK_CHUNK = 500


# Schemas per task of a worker process: one migration loader and one connection for them all.
BATCH_SIZE = 100


def migrate_schemas_parallel(
    schemas: list[str], *, workers: int, verbosity: int = 0
) -> dict[str, str | None]:
    """Migrate each schema to the latest migrations, in batches run by `workers` forked processes."""
    if workers <= 1 or len(schemas) <= 1:
        return dict(migrate_schemas_batch(schemas))
    # Forked children must not share the parent's sockets: close them; each child opens its own.
    placement.close_all()
    context = multiprocessing.get_context("fork")
    # Batches share one migration loader (batch_migrate.py); each closes its connection at the end, which
    # keeps the per-connection catalog cache bounded (it grows per schema touched).
    size = max(1, min(BATCH_SIZE, -(-len(schemas) // workers)))
    batches = [schemas[i : i + size] for i in range(0, len(schemas), size)]
    with context.Pool(processes=workers) as pool:
        results = pool.map(functools.partial(migrate_schemas_batch, close=True), batches, chunksize=1)
    return dict(item for batch in results for item in batch)


def migrate_organizations(*, workers: int = 2, dry_run: bool = False, verbosity: int = 0) -> MigrationReport:
    """Bring public, the template and every organization to the latest migrations, on every database
    organizations are placed on (the primary first). Idempotent."""
    started = time.perf_counter()
    report = MigrationReport(dry_run=dry_run)
    for database in placement.database_aliases():
        with placement.using(database):
            _migrate_database(database, report, workers=workers, dry_run=dry_run, verbosity=verbosity)
    connection.set_schema_to_public()
    report.seconds = time.perf_counter() - started
    return report


def _capture_template(database: str) -> None:
    """Dump the template now (a no-op when its capture for this migration state exists), so that the
    first organization provisioned after a migration does not pay for it (pg_dump reads the whole catalog:
    seconds with thousands of organizations). Best effort: the first clone captures it otherwise."""
    try:
        template_capture()
    except Exception:
        logger.warning("could not capture the template of %s; the next clone will", database, exc_info=True)


def _prepare_database(database: str, report: MigrationReport, *, dry_run: bool, verbosity: int) -> None:
    """Public and the template of one database (active as `default`), migrated first: the template is the
    reference organizations are compared with."""
    from shared_apps.organizations.services import template_ensure

    label = "" if database == placement.DEFAULT else f"{database}:"
    public_pending = pending_migrations("public")
    report.public_pending += [label + name for name in public_pending]
    if public_pending and not dry_run:
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
    connection.set_schema_to_public()
    if not dry_run:
        with template_lock():  # clones wait while the template is created (or find it complete)
            template_ensure(database=database)
    if schema_exists(settings.TENANT_BASE_SCHEMA):
        template_pending = pending_migrations(settings.TENANT_BASE_SCHEMA)
    else:  # only on a dry run: the template is created above otherwise
        template_pending = ["(the template schema does not exist yet)"]
    report.template_pending += [label + name for name in template_pending]
    if template_pending and not dry_run:
        with template_lock():  # no clone reads a half-migrated template (see cloning.py)
            call_command(
                "migrate_schemas",
                tenant=True,
                schema_name=settings.TENANT_BASE_SCHEMA,
                interactive=False,
                verbosity=verbosity,
            )
    connection.set_schema_to_public()
    if not dry_run:
        _capture_template(database)


def _migrate_database(
    database: str, report: MigrationReport, *, workers: int, dry_run: bool, verbosity: int
) -> None:
    """One database (active as `default`): its public schema, its template, then its organizations.

    The template is migrated before the organizations are compared with it, so it is the reference."""
    _prepare_database(database, report, dry_run=dry_run, verbosity=verbosity)
    schemas = organization_schemas(database=database)
    report.checked += len(schemas)
    if schema_exists(settings.TENANT_BASE_SCHEMA):
        behind, missing = schemas_behind(schemas)
    else:
        behind, missing = schemas, []
    report.behind += behind
    report.missing_schemas += missing
    if behind and not dry_run:
        results = migrate_schemas_parallel(behind, workers=workers, verbosity=verbosity)
        report.migrated += [s for s in behind if results.get(s) is None]
        report.failed.update({s: error for s, error in results.items() if error is not None})
    connection.set_schema_to_public()


def migrate_chosen(organizations: list[Organization]) -> dict[str, dict[str, Any]]:
    """Bring the chosen organizations to the latest migrations, database by database: public and the
    template first, then only the chosen schemas behind the template, in one process and one migration
    loader (bulk migrate from the console and the platform API). Per slug: {"status": "done", "migrated":
    bool} or {"status": "failed", "code", "message"}."""
    outcomes: dict[str, dict[str, Any]] = {}
    by_database: dict[str, list[Organization]] = {}
    for organization in organizations:
        by_database.setdefault(organization.database, []).append(organization)
    for database, chosen in by_database.items():
        slug_of = {organization.schema_name: organization.slug for organization in chosen}
        try:
            with placement.using(database):
                _prepare_database(database, MigrationReport(), dry_run=False, verbosity=0)
                behind, missing = schemas_behind(list(slug_of))
                results = dict(migrate_schemas_batch(behind)) if behind else {}
        except (
            Exception
        ) as exc:  # the database itself could not be prepared: each of its organizations says so
            for slug in slug_of.values():
                outcomes[slug] = {
                    "status": "failed",
                    "code": "migrate_failed",
                    "message": f"{type(exc).__name__}: {exc}",
                }
            continue
        finally:
            connection.set_schema_to_public()
        for schema, slug in slug_of.items():
            if schema in missing:
                outcomes[slug] = {
                    "status": "failed",
                    "code": "schema_missing",
                    "message": "Its schema does not exist.",
                }
            elif results.get(schema) is not None:
                outcomes[slug] = {"status": "failed", "code": "migrate_failed", "message": results[schema]}
            else:
                outcomes[slug] = {"status": "done", "migrated": schema in behind}
    return outcomes
