"""Moving an organization to another database (see placement.py and docs/placement.md).

0. Before anything is frozen, the schema's tables (pg_dump's pre-data section) are created on the target in
   a transaction of a session of its own, left open: nobody sees them, and the freeze below holds only the
   rows and the indexes built over them.
1. Freeze: `moving_since` is set, so the organization's hosts answer writes with 503 + Retry-After (reads
   go on) and its jobs wait (context.job_organization).
2. On the source database, in one transaction, every table of the schema is locked IN EXCLUSIVE MODE: that
   waits for writes already under way and blocks late ones, while reads (and pg_dump) go on.
3. The rows (pg_dump's data section) are loaded into the target's open transaction, then its indexes,
   constraints and triggers (post-data) are built over them; the row counts of every table are compared on
   both sides, then the target commits (a mismatch rolls it back and the organization stays where it was).
4. The placement is switched on the primary (and the freeze lifted), then the source schema is dropped in
   the locking transaction: a write that was waiting on the lock fails (the table is gone) instead of
   landing in a copy nobody reads.

The freeze lasts as long as the rows take to copy: bench/placement.py measures it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.db import connections, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_tenants.utils import schema_exists

from shared_apps.core.db import connection
from shared_apps.core.errors import Conflict
from shared_apps.organizations import pgdump, placement
from shared_apps.organizations.backup import table_counts
from shared_apps.organizations.exceptions import StatusChangeNotAllowed
from shared_apps.organizations.models import Domain, Organization, OrganizationStatus
from shared_apps.organizations.routing import forget_hosts
from shared_apps.organizations.services import database_prepare, platform_audit, schema_drop


class MoveVerificationFailed(Conflict):
    code = "move_verification_failed"
    message = "The copy's row counts differ from the source's; the organization stays where it was."


@dataclass
class MoveReport:
    slug: str
    source: str
    target: str
    tables: int = 0
    rows: int = 0
    frozen_seconds: float = 0.0
    copy_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [
            f"moved {self.slug} from {self.source} to {self.target}: {self.tables} tables, {self.rows} rows "
            f"verified; writes frozen {self.frozen_seconds:.2f} s (copy {self.copy_seconds:.2f} s)"
        ]


def _freeze(organization: Organization, since: object) -> None:
    Organization.objects.filter(pk=organization.pk).update(moving_since=since)
    forget_hosts(Domain.objects.filter(tenant_id=organization.pk).values_list("domain", flat=True))


def _section(schema: str, section: str) -> list[pgdump.Segment]:
    """One pg_dump section of the schema on the active database: `pre-data` (tables, sequences, functions),
    `data` (rows, sequence values) or `post-data` (indexes, constraints, triggers)."""
    dump = pgdump.dump_schema(schema, extra_args=[f"--section={section}"])
    return pgdump.prepared_segments(dump.decode())


def _lock_schema(schema: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", [schema])
        tables = [f'"{schema}"."{row[0]}"' for row in cursor.fetchall()]
        if tables:
            cursor.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")


def organization_move(
    *, organization: Organization, to: str, request: HttpRequest | None = None
) -> MoveReport:
    """Copy an organization's schema to database `to`, verify it, switch its placement, drop the source.
    The move is in the platform's audit log."""
    to = placement.validate_database(to, field="to")
    organization = Organization.objects.get(pk=organization.pk)
    source, schema = organization.database, organization.schema_name
    if organization.status not in (OrganizationStatus.ACTIVE, OrganizationStatus.SUSPENDED):
        raise StatusChangeNotAllowed("Only live organizations can be moved.", current=organization.status)
    if to == source:
        raise Conflict(f"The organization is already on {to}.", code="already_there", database=to)
    if organization.moving_since is not None:
        raise Conflict("The organization is already being moved.", code="move_in_progress")
    database_prepare(to)  # extensions and functions the tables use, on the target's public schema
    with placement.using(to):
        if schema_exists(schema):
            raise Conflict(
                f"Schema {schema} already exists on {to}.", code="schema_exists", database=to, schema=schema
            )

    report = MoveReport(slug=organization.slug, source=source, target=to)
    with placement.using(source):
        tables = _section(schema, "pre-data")
    target = connections.create_connection(to)  # a session of its own: its transaction spans the steps
    copied = switched = False
    try:
        target.set_autocommit(False)
        with target.cursor() as cursor:
            pgdump.replay(cursor, tables, old=schema, new=schema)
        frozen_at = time.perf_counter()
        _freeze(organization, timezone.now())
        try:
            with placement.using(source), transaction.atomic():
                _lock_schema(schema)
                counts = table_counts(schema)
                copy_started = time.perf_counter()
                rows, indexes = _section(schema, "data"), _section(schema, "post-data")
                with target.cursor() as cursor:
                    # rows into bare tables, then indexes, constraints and triggers over them (pg_restore's
                    # order: faster than maintaining the indexes row by row, and no trigger fires on old rows)
                    pgdump.replay(cursor, rows, old=schema, new=schema)
                    pgdump.replay(cursor, indexes, old=schema, new=schema)
                if table_counts(schema, on=target) != counts:
                    raise MoveVerificationFailed(slug=organization.slug, database=to)
                target.commit()
                copied = True
                report.copy_seconds = time.perf_counter() - copy_started
                # On the primary; when the source is the primary this is part of the locking transaction.
                Organization.objects.filter(pk=organization.pk).update(database=to, moving_since=None)
                switched = source != placement.DEFAULT
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        except BaseException:
            if copied and not switched:  # the copy was committed but the organization never pointed at it
                schema_drop(schema, database=to)
            if not switched:
                _freeze(organization, None)
            raise
    finally:
        target.close()  # rolls back whatever was not committed
    forget_hosts(Domain.objects.filter(tenant_id=organization.pk).values_list("domain", flat=True))
    report.frozen_seconds = time.perf_counter() - frozen_at
    report.counts = counts
    report.tables = len(counts)
    report.rows = sum(counts.values())
    platform_audit(
        "organization.moved",
        organization=organization,
        request=request,
        changes={
            "database": [source, to],
            "rows": report.rows,
            "frozen_seconds": round(report.frozen_seconds, 3),
        },
    )
    return report
