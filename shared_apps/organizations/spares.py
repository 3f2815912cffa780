"""A warm pool of spare organization schemas, so provisioning renames one instead of cloning the template.

Cloning replays the template's dump (0.2 to 0.4 s, most of a provisioning). A spare is such a clone made
ahead of time, off the request path, under a name of its own (`spare_<hex>`, never an organization's
`org_...`), recorded with the template fingerprint it was cloned from (`SpareSchema`, public schema of the
primary). `organization_provision` takes one in its own transaction: the row is locked with `FOR UPDATE SKIP
LOCKED` (two provisionings take two spares), the schema is renamed with `ALTER SCHEMA ... RENAME TO` and the
row deleted. Both are transactional, so a failing provisioning gives the spare back as it was. No spare of
the template's current state: it clones as before.

Renaming is safe for what the template's dump holds (checked by grepping the dump; see test_spares.py):
tables, sequences, indexes, constraints, triggers and generated columns refer to each other by OID, and the
trigger functions name no schema in their text (their SQL is unqualified, resolved through the
organization's search_path, or built from TG_TABLE_SCHEMA at run time). A template migration that wrote a
schema-qualified name into a function body, a view or a `SET search_path` would break renamed schemas: the
test comparing an organization made from a spare with the template fails then.

The pool is kept full by `spares_top_up` (an rq job enqueued after each provisioning, and every minute by
the scheduler): it drops spares of an old fingerprint (a template migration happened) or whose schema is
gone, then clones until there are ORGANIZATION_SPARE_SCHEMAS of the current state. One top-up runs at a
time (a transaction-level advisory lock, tried, not waited for), so concurrent runs never overfill.

Only the primary database keeps spares: an organization placed on another database (DATABASES_EXTRA) is
cloned there as before. Its schema and the primary's rows cannot change in one transaction, so a spare
taken there could be lost or left behind by a failure between the two commits.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django_tenants.utils import get_public_schema_name, schema_context

from shared_apps.core.db import connection
from shared_apps.organizations import placement
from shared_apps.organizations.cloning import TEMPLATE_LOCK_KEY, clone_template, template_fingerprint
from shared_apps.organizations.models import SpareSchema

logger = logging.getLogger(__name__)

SPARE_PREFIX = "spare_"
# pg_advisory_xact_lock key for "the pool is being topped up" ('LPspare')
SPARES_LOCK_KEY = 0x4C507370617265
TOP_UP_JOB = "shared_apps.organizations.spares.spares_top_up"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def spare_take(schema_name: str) -> bool:
    """Rename a spare of the template's current state to `schema_name`, on the primary, in the caller's
    transaction (a savepoint of it). False when there is none: the caller clones instead.

    Holds the template lock shared, as a clone does, so a template migration cannot change the fingerprint
    between the check and the commit. Raises ValidationError if `schema_name` exists (like clone_template)."""
    table = _quote(SpareSchema._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [TEMPLATE_LOCK_KEY])
        cursor.execute("SELECT 1 FROM pg_namespace WHERE lower(nspname) = lower(%s)", [schema_name])
        if cursor.fetchone() is not None:
            raise ValidationError("New schema name already exists")
        cursor.execute(
            f"SELECT s.id, s.schema_name FROM public.{table} s "  # noqa: S608 (our own table's name)
            "WHERE s.database = %s AND s.fingerprint = %s "
            "AND EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = s.schema_name) "
            "ORDER BY s.created_at, s.id LIMIT 1 FOR UPDATE OF s SKIP LOCKED",
            [placement.DEFAULT, template_fingerprint()],
        )
        row = cursor.fetchone()
        if row is None:
            return False
        spare_id, spare_name = row
        cursor.execute(f"ALTER SCHEMA {_quote(spare_name)} RENAME TO {_quote(schema_name)}")
        cursor.execute(f"DELETE FROM public.{table} WHERE id = %s", [spare_id])  # noqa: S608
    return True


def spares_top_up(*, wanted: int | None = None) -> dict[str, Any]:
    """Fill the primary's pool to `wanted` (ORGANIZATION_SPARE_SCHEMAS) spares of the template's current
    state: first drop spares of another state, spares whose schema is gone and spares beyond `wanted`, then
    clone the missing ones, one transaction each (a provisioning can take a spare as soon as it exists).

    Idempotent and safe to run concurrently: if another top-up holds the pool's lock this one returns
    (`busy`), so the pool never grows past `wanted`. Returns what it did."""
    wanted = settings.ORGANIZATION_SPARE_SCHEMAS if wanted is None else wanted
    done: dict[str, Any] = {"created": [], "dropped": [], "busy": False}
    if not connection.in_atomic_block:  # (a test or an eager caller may run it inside its transaction)
        placement.activate(placement.DEFAULT)
    with schema_context(get_public_schema_name()):
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SPARES_LOCK_KEY])
                if not cursor.fetchone()[0]:
                    done["busy"] = True
                    break
                step = _top_up_step(cursor, wanted)
            if step is None:
                break
            action, name = step
            done[action].append(name)
    if done["created"] or done["dropped"]:
        logger.info("spare schemas: created %s, dropped %s", done["created"], done["dropped"])
    return done


def _top_up_step(cursor: Any, wanted: int) -> tuple[str, str] | None:
    """One change to the pool, in the caller's transaction: ("dropped" | "created", schema) or None when
    the pool is as wanted."""
    # Shared, as a clone holds it: the fingerprint cannot change until this transaction ends.
    cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [TEMPLATE_LOCK_KEY])
    fingerprint = template_fingerprint()
    table = _quote(SpareSchema._meta.db_table)
    # Spares a provisioning is taking are locked: skipped here, and counted below until it commits.
    cursor.execute(
        f"SELECT s.id, s.schema_name FROM public.{table} s "  # noqa: S608 (our own table's name)
        "WHERE s.database = %s AND (s.fingerprint <> %s "
        "OR NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = s.schema_name)) "
        "ORDER BY s.id LIMIT 1 FOR UPDATE OF s SKIP LOCKED",
        [placement.DEFAULT, fingerprint],
    )
    stale = cursor.fetchone()
    if stale is None:
        current = SpareSchema.objects.filter(database=placement.DEFAULT, fingerprint=fingerprint)
        count = current.count()
        if count > wanted:
            cursor.execute(
                f"SELECT id, schema_name FROM public.{table} WHERE database = %s AND fingerprint = %s "  # noqa: S608
                "ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE SKIP LOCKED",
                [placement.DEFAULT, fingerprint],
            )
            stale = cursor.fetchone()
        elif count < wanted:
            name = SPARE_PREFIX + secrets.token_hex(6)
            made_from = clone_template(name)
            SpareSchema.objects.create(schema_name=name, database=placement.DEFAULT, fingerprint=made_from)
            return "created", name
    if stale is None:
        return None
    spare_id, spare_name = stale
    cursor.execute(f"DROP SCHEMA IF EXISTS {_quote(spare_name)} CASCADE")
    cursor.execute(f"DELETE FROM public.{table} WHERE id = %s", [spare_id])  # noqa: S608
    return "dropped", spare_name


def spares_top_up_soon() -> None:
    """Enqueue a top-up (after the current transaction commits, if any): after a provisioning used the pool
    or found it empty. Nothing when the pool is off. Never fails its caller: without Redis the scheduler's
    next minute (or the next provisioning) asks again."""
    if settings.ORGANIZATION_SPARE_SCHEMAS <= 0:
        return
    from shared_apps.organizations.jobs import get_queue

    try:
        with schema_context(get_public_schema_name()):  # a platform job: no organization in its meta
            get_queue("default").enqueue(TOP_UP_JOB)
    except Exception:  # the organization is provisioned already; the pool is an optimisation
        logger.warning("could not enqueue a top-up of the spare schemas", exc_info=True)
