"""Provisioning replays the template's captured dump: the clone equals the template, the capture follows the
template's migrations, and the template lock keeps clones and template migrations apart."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection
from django_tenants.utils import schema_context

from shared_apps.organizations import cloning, pgdump
from shared_apps.organizations.cloning import TEMPLATE_LOCK_KEY, TemplateCapture
from shared_apps.organizations.migrating import migrate_organizations
from shared_apps.users.models import User
from tests.shared_apps.organizations.test_provisioning import leftovers, provision

pytestmark = pytest.mark.usefixtures("public")
TEMPLATE = settings.TENANT_BASE_SCHEMA

# What a schema is made of, each row with the schema's own name replaced by "S".
CATALOG_QUERIES = {
    "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity,
                         identity_generation, generation_expression
                  FROM information_schema.columns WHERE table_schema = %(schema)s""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %(schema)s",
    "constraints": """SELECT rel.relname, c.conname, c.contype, pg_get_constraintdef(c.oid)
                      FROM pg_constraint c JOIN pg_class rel ON rel.oid = c.conrelid
                      JOIN pg_namespace n ON n.oid = rel.relnamespace WHERE n.nspname = %(schema)s""",
    "triggers": """SELECT rel.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
                   JOIN pg_class rel ON rel.oid = t.tgrelid JOIN pg_namespace n ON n.oid = rel.relnamespace
                   WHERE n.nspname = %(schema)s AND NOT t.tgisinternal""",
    "functions": """SELECT p.proname, pg_get_function_identity_arguments(p.oid), p.prosrc FROM pg_proc p
                    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(schema)s""",
    # (last_value differs once the clone has rows of its own: see test_inserts_work_...)
    "sequences": """SELECT sequencename, data_type, start_value, increment_by, min_value, max_value, cycle
                    FROM pg_sequences WHERE schemaname = %(schema)s""",
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = %(schema)s",
}


def catalog(schema: str, *, skip: tuple[str, ...] = ()) -> dict[str, set[tuple[Any, ...]]]:
    def normal(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.startswith("CHECK "):
            # PostgreSQL deparses a re-parsed `col = ANY (ARRAY[...]::text[])` with the casts moved inside
            # the array (as after any dump and restore): the same condition, compared without casts and
            # parentheses.
            value = re.sub(r"::[a-z ]+(\[\])?|[()]", "", value)
        return value.replace(schema, "S")

    described = {}
    with connection.cursor() as cursor:
        for kind, query in CATALOG_QUERIES.items():
            if kind in skip:
                continue
            cursor.execute(query, {"schema": schema})
            described[kind] = {tuple(normal(v) for v in row) for row in cursor.fetchall()}
    return described


def rows(schema: str, table: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY 1')
        return cursor.fetchall()


@pytest.fixture
def side_connection() -> Iterator[Any]:
    """A connection of its own to the test database, outside the test's transaction (autocommit)."""
    raw = connection.get_new_connection(connection.get_connection_params())
    raw.autocommit = True
    yield raw
    raw.close()


@pytest.fixture
def dumps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts pg_dump runs of the template, with this process's captures forgotten first."""
    calls: list[str] = []
    real = pgdump.dump_schema

    def counting(schema: str, **kwargs: Any) -> bytes:
        calls.append(schema)
        return real(schema, **kwargs)

    monkeypatch.setattr(cloning, "dump_schema", counting)
    monkeypatch.setattr(cloning, "_captures", {})
    return calls


def test_a_clone_equals_the_template_object_for_object():
    provision("mirror")
    template, clone = catalog(TEMPLATE), catalog("org_mirror")
    for kind in CATALOG_QUERIES:
        assert clone[kind] == template[kind], kind
    assert all(template[kind] for kind in ("columns", "indexes", "constraints", "triggers", "functions"))
    # the template's rows come along, so the clone is fully migrated
    for table in ("django_migrations", "django_content_type", "auth_permission"):
        assert rows("org_mirror", table) == rows(TEMPLATE, table), table


def test_inserts_work_and_sequences_are_the_clones_own():
    provision("inserts")
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM org_template.users_user_id_seq")
        template_users_seq = cursor.fetchone()[0]
    with schema_context("org_inserts"):
        # the admin is the first row of an empty table: its sequence starts fresh
        assert User.objects.get().id == 1
        assert User.objects.create_user("second@inserts.test", "x-Password-1").id == 2
        # a table holding the template's rows continues after them instead of colliding
        highest = ContentType.objects.order_by("-id").values_list("id", flat=True).first()
        assert ContentType.objects.create(app_label="cloning", model="probe").id == highest + 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM org_template.users_user_id_seq")
        assert cursor.fetchone()[0] == template_users_seq


def test_a_failure_during_the_replay_leaves_no_schema_row_or_domain(monkeypatch):
    real = cloning.template_capture

    def failing(**kwargs: Any) -> TemplateCapture:
        capture = real(**kwargs)  # everything is created, then the last statement fails
        return TemplateCapture(capture.fingerprint, [*capture.segments, ("sql", "SELECT 1 / 0;")])

    monkeypatch.setattr(cloning, "template_capture", failing)
    with pytest.raises(DatabaseError):
        provision("halfway")
    assert leftovers("halfway") == {"organization": False, "domain": False, "schema": False}


def test_the_template_is_captured_once_then_reused(dumps):
    provision("first-clone")
    provision("second-clone")
    assert dumps == [TEMPLATE]
    cloning._captures.clear()  # another process: it finds the capture in the shared cache
    provision("third-clone")
    assert dumps == [TEMPLATE]


def test_a_template_migration_invalidates_the_captured_dump(dumps, side_connection):
    provision("before-probe")
    assert dumps == [TEMPLATE]
    # A migration of the template, committed as `migrate_organizations` would (pg_dump sees committed state).
    with side_connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE org_template.cloning_probe ("
            "id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
            "note text NOT NULL CONSTRAINT cloning_probe_note_named CHECK (note <> ''))"
        )
        cursor.execute(
            "INSERT INTO org_template.django_migrations (app, name, applied) "
            "VALUES ('cloning', '0001_probe', now())"
        )
    try:
        provision("after-probe")
        assert dumps == [TEMPLATE, TEMPLATE]
        # (reading pg_sequences would lock the probe's sequence until this test's transaction ends)
        clone = catalog("org_after_probe", skip=("sequences",))
        assert clone == catalog(TEMPLATE, skip=("sequences",))
        assert ("cloning_probe", "cloning_probe_note_named") in {row[:2] for row in clone["constraints"]}
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO org_after_probe.cloning_probe (note) VALUES ('works') RETURNING id")
            assert cursor.fetchone()[0] == 1
            cursor.execute("SELECT 1 FROM org_after_probe.django_migrations WHERE app = 'cloning'")
            assert cursor.fetchone() is not None
            cursor.execute("SELECT to_regclass('org_before_probe.cloning_probe')")
            assert cursor.fetchone()[0] is None
    finally:
        with side_connection.cursor() as cursor:
            cursor.execute("DROP TABLE org_template.cloning_probe")
            cursor.execute("DELETE FROM org_template.django_migrations WHERE app = 'cloning'")


def test_a_capture_that_does_not_match_the_template_is_refused(dumps, monkeypatch):
    # This transaction sees a template migration pg_dump's session cannot see (not committed): the dump
    # would be cached under a state it does not have. It is retried, then refused.
    monkeypatch.setattr(cloning.time, "sleep", lambda seconds: None)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO org_template.django_migrations (app, name, applied) "
            "VALUES ('cloning', '0002_uncommitted', now())"
        )
    with pytest.raises(RuntimeError, match="changed while it was captured"):
        provision("mismatch")
    assert len(dumps) == cloning.CAPTURE_ATTEMPTS


def _waiters(raw: Any, *, exclusive: bool) -> int:
    with raw.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = %s AND objid = %s AND objsubid = 1 AND mode = %s",
            [
                TEMPLATE_LOCK_KEY >> 32,
                TEMPLATE_LOCK_KEY & 0xFFFFFFFF,
                "ExclusiveLock" if exclusive else "ShareLock",
            ],
        )
        return int(cursor.fetchone()[0])


def _release_when_waited_on(raw: Any, *, exclusive: bool, unlock: str) -> dict[str, float | bool]:
    """In a thread: wait (up to 10 s) until someone waits for the template lock, then release it."""
    seen: dict[str, float | bool] = {"waiter": False}
    watcher_conn = connection.get_new_connection(connection.get_connection_params())
    watcher_conn.autocommit = True

    def watch() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not seen["waiter"]:
            seen["waiter"] = _waiters(watcher_conn, exclusive=exclusive) > 0
            time.sleep(0.05)
        time.sleep(0.3)  # the waiter is still waiting: it cannot proceed while the lock is held
        seen["released_at"] = time.monotonic()
        with raw.cursor() as cursor:
            cursor.execute(unlock, [TEMPLATE_LOCK_KEY])
        watcher_conn.close()

    threading.Thread(target=watch, daemon=True).start()
    return seen


def test_provisioning_waits_while_the_template_is_migrated(side_connection):
    with side_connection.cursor() as cursor:  # what migrate_organizations holds while migrating the template
        cursor.execute("SELECT pg_advisory_lock(%s)", [TEMPLATE_LOCK_KEY])
    seen = _release_when_waited_on(side_connection, exclusive=False, unlock="SELECT pg_advisory_unlock(%s)")
    provision("patient")
    finished = time.monotonic()
    assert seen["waiter"] is True
    assert finished >= seen["released_at"]
    assert leftovers("patient")["schema"]


def test_migrating_the_template_waits_for_clones_in_progress(side_connection):
    # the template is one migration behind (a leaf migration whose re-application changes nothing)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM org_template.django_migrations WHERE app = 'search' "
            "AND name = '0003_search_words_deferrable'"
        )
    with side_connection.cursor() as cursor:  # what a provisioning holds while it clones
        cursor.execute("SELECT pg_advisory_lock_shared(%s)", [TEMPLATE_LOCK_KEY])
    seen = _release_when_waited_on(
        side_connection, exclusive=True, unlock="SELECT pg_advisory_unlock_shared(%s)"
    )
    report = migrate_organizations(workers=1)
    finished = time.monotonic()
    assert seen["waiter"] is True
    assert finished >= seen["released_at"]
    assert report.template_pending == ["search.0003_search_words_deferrable"]


def test_batch_migration_applies_the_missing_migration_and_the_templates_content_types(org, other_org):
    from shared_apps.organizations.batch_migrate import migrate_schemas_batch

    def state(schema: str) -> tuple[list[Any], list[Any]]:
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations ORDER BY app, name')
            migrations = cursor.fetchall()
            cursor.execute(
                f'SELECT c.app_label, c.model, p.codename FROM "{schema}".auth_permission p '
                f'JOIN "{schema}".django_content_type c ON c.id = p.content_type_id ORDER BY 1, 2, 3'
            )
            return migrations, cursor.fetchall()

    # as if search.0003 (a leaf: CREATE OR REPLACE of a trigger function, harmless to re-apply) were
    # new, and had created the Account model's content type and permissions
    with connection.cursor() as cursor:
        for schema in (org.schema_name, other_org.schema_name):
            cursor.execute(
                f'DELETE FROM "{schema}".django_migrations '
                "WHERE app = 'search' AND name = '0003_search_words_deferrable'"
            )
        cursor.execute(
            f'DELETE FROM "{org.schema_name}".auth_permission WHERE content_type_id = '
            f'(SELECT id FROM "{org.schema_name}".django_content_type '
            "WHERE app_label = 'accounts' AND model = 'account')"
        )
        cursor.execute(
            f'DELETE FROM "{org.schema_name}".django_content_type '
            "WHERE app_label = 'accounts' AND model = 'account'"
        )
    assert state(org.schema_name) != state(TEMPLATE)
    results = migrate_schemas_batch([org.schema_name, other_org.schema_name])
    assert results == [(org.schema_name, None), (other_org.schema_name, None)]
    assert state(org.schema_name) == state(TEMPLATE) == state(other_org.schema_name)


def test_constraint_names_of_older_clones_are_aligned_in_one_pass(org, other_org):
    from shared_apps.organizations.services import constraint_names_align

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rel.relname, c.conname FROM pg_constraint c JOIN pg_class rel ON rel.oid = c.conrelid "
            "WHERE c.connamespace = %s::regnamespace AND c.contype = 'u' ORDER BY 1, 2 LIMIT 1",
            [org.schema_name],
        )
        table, name = cursor.fetchone()
        # as django-tenants' clone function named it
        cursor.execute(f'ALTER TABLE "{org.schema_name}"."{table}" RENAME CONSTRAINT "{name}" TO "x_key"')
    assert constraint_names_align(org.schema_name, other_org.schema_name) == 1
    assert constraint_names_align(org.schema_name, other_org.schema_name) == 0
    assert catalog(org.schema_name)["constraints"] == catalog(TEMPLATE)["constraints"]


def test_migrate_organizations_captures_the_template_so_no_clone_pays_for_it(dumps):
    from django.core.cache import caches

    from shared_apps.organizations import placement

    caches["platform"].clear()
    migrate_organizations(workers=1)
    assert dumps == [TEMPLATE] * len(placement.database_aliases())  # one capture per database
    provision("after-migrate")
    assert dumps == [TEMPLATE] * len(placement.database_aliases())
