"""New organization schemas, replayed from the template's captured dump in constant time.

django-tenants' `clone_schema()` is a PL/pgSQL function that reads information_schema for every object on
every call: it slowed from 2.8 s to 23 s per clone as organizations accumulated (information_schema grows
with every schema in the database). Here the template is captured once with pg_dump (its DDL plus its few
rows: django_migrations, content types, permissions) and each clone replays that dump with the schema name
substituted, on Django's connection, inside the caller's transaction: a failure leaves no schema behind.
The replay issues the same statements whatever the number of organizations, and the dump carries the
template's constraint and index names, so a clone's names equal the template's.

The capture is cached per database under a fingerprint of the template's migration state (its
`django_migrations` rows): in this process, then in the platform cache (Redis) for the other web and rq
processes. A template migration changes the fingerprint, so every process captures again on its next clone.
The fingerprint is computed from the dump's own django_migrations rows as well and must match the live one
(otherwise the capture raced a migration and is retried), so a cached dump always is the state it names.

The template must not change while it is dumped or cloned: provisioning holds `template_lock()` shared,
`migrate_organizations` holds it exclusive while it creates or migrates the template.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import connections, transaction

from shared_apps.organizations.pgdump import Segment, dump_schema, prepared_segments, replay

logger = logging.getLogger(__name__)

# pg_advisory_lock key for "the template is being read or changed", per database ('LPtempl').
TEMPLATE_LOCK_KEY = 0x4C5074656D706C
CACHE_TIMEOUT = 7 * 24 * 3600
CAPTURE_ATTEMPTS = 3


@dataclass(frozen=True)
class TemplateCapture:
    fingerprint: str
    segments: list[Segment]


# database identity -> the latest capture seen by this process
_captures: dict[str, TemplateCapture] = {}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _database_identity(using: str) -> str:
    db = connections[using].settings_dict
    return f"{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _fingerprint(migrations: list[tuple[str, str]]) -> str:
    return hashlib.sha256("\n".join(f"{app}.{name}" for app, name in sorted(migrations)).encode()).hexdigest()


def template_fingerprint(*, using: str = "default") -> str:
    """A digest of the template's migration state: which migrations its django_migrations holds."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT app, name FROM {_quote(settings.TENANT_BASE_SCHEMA)}.django_migrations")  # noqa: S608
        return _fingerprint([(str(app), str(name)) for app, name in cursor.fetchall()])


def _dump_fingerprint(prepared: list[Segment]) -> str:
    """The same digest computed from the django_migrations rows inside a dump."""
    template = re.escape(settings.TENANT_BASE_SCHEMA)
    header_re = re.compile(rf'^COPY "?{template}"?\.django_migrations \((.*)\)$')
    for kind, text in prepared:
        header, _, data = text.partition("\n")
        match = header_re.match(header) if kind == "copy" else None
        if match is None:
            continue
        columns = [column.strip().strip('"') for column in match.group(1).split(",")]
        app, name = columns.index("app"), columns.index("name")
        rows = [line.split("\t") for line in data.splitlines() if line]
        return _fingerprint([(row[app], row[name]) for row in rows])
    return _fingerprint([])


def _cache_key(using: str, fingerprint: str) -> str:
    identity = hashlib.sha256(_database_identity(using).encode()).hexdigest()[:16]
    return f"template-dump:{identity}:{fingerprint}"


def _capture(using: str, fingerprint: str) -> TemplateCapture:
    """Dump the template (pg_dump runs in its own session, so it sees committed state only)."""
    for _ in range(CAPTURE_ATTEMPTS):
        started = time.perf_counter()
        sql = dump_schema(settings.TENANT_BASE_SCHEMA, using=using).decode()
        prepared = prepared_segments(sql)
        dumped = _dump_fingerprint(prepared)
        if dumped == fingerprint:
            logger.info(
                "captured the template in %.2f s (%d bytes, fingerprint %s)",
                time.perf_counter() - started,
                len(sql),
                fingerprint[:12],
            )
            try:
                caches["platform"].set(_cache_key(using, fingerprint), sql, CACHE_TIMEOUT)
            except Exception:  # the cache is an optimisation: without Redis every process dumps once
                logger.warning("could not store the template capture in the cache", exc_info=True)
            return TemplateCapture(fingerprint, prepared)
        # A migration committed meanwhile, or this transaction sees template changes pg_dump cannot see.
        time.sleep(0.2)
        fingerprint = template_fingerprint(using=using)
    raise RuntimeError(
        "The template changed while it was captured; migrate it with `migrate_organizations` "
        "(which holds the template lock) and retry."
    )


def template_capture(*, using: str = "default") -> TemplateCapture:
    """The template's dump for its current migration state: this process's, the cache's, or a new one."""
    fingerprint = template_fingerprint(using=using)
    identity = _database_identity(using)
    capture = _captures.get(identity)
    if capture is not None and capture.fingerprint == fingerprint:
        return capture
    try:
        sql = caches["platform"].get(_cache_key(using, fingerprint))
    except Exception:
        logger.warning("could not read the template capture from the cache", exc_info=True)
        sql = None
    if sql is not None:
        capture = TemplateCapture(fingerprint, prepared_segments(sql))
    else:
        capture = _capture(using, fingerprint)
    _captures[identity] = capture
    return capture


@contextmanager
def template_lock(*, using: str = "default") -> Iterator[None]:
    """Hold the template lock exclusively, on a connection of its own, for the duration of the block.

    For whoever changes the template (creating or migrating it): clones wait meanwhile, and it waits for
    the clones in progress. A connection of its own, because `migrate_schemas` closes Django's connection
    when it finishes (which would drop a session lock taken on it)."""
    wrapper = connections[using]
    lock_connection = wrapper.get_new_connection(wrapper.get_connection_params())
    try:
        lock_connection.autocommit = True
        with lock_connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [TEMPLATE_LOCK_KEY])
        yield
    finally:
        lock_connection.close()  # ends the session, which releases the lock


def clone_template(schema_name: str, *, using: str = "default") -> str:
    """Create `schema_name` as a copy of the template (tables, indexes, constraints with their names,
    functions, triggers, sequences and the template's rows: it is fully migrated). Returns the template's
    fingerprint the copy was made from.

    Runs in the caller's transaction (a savepoint of it) or in one of its own, so a failure leaves no
    schema. Takes the template lock shared until that transaction ends: a template migration waits for
    it, and it waits for a template migration in progress."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [TEMPLATE_LOCK_KEY])
        # Compared ignoring case, like django-tenants: two schemas differing in case would share a tenant.
        cursor.execute("SELECT 1 FROM pg_namespace WHERE lower(nspname) = lower(%s)", [schema_name])
        if cursor.fetchone() is not None:
            raise ValidationError("New schema name already exists")
        capture = template_capture(using=using)
        replay(cursor, capture.segments, old=settings.TENANT_BASE_SCHEMA, new=schema_name)
    return capture.fingerprint
