"""What Citus schema-based sharding would need from an organization's schema (docs/placement.md): every
table keyed by a bigint, and no foreign key leaving the schema. Checked on the template every organization
is cloned from, so a new model that breaks either fails here."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

# Django's own tables keep Django's keys; one-row settings tables use a smallint; the outbox a uuid.
NOT_BIGINT_ON_PURPOSE = {
    "django_content_type",
    "auth_permission",
    "auth_group",
    "django_session",
    "analytics_analyticsstate",
    "automation_routingstate",
    "reminders_followupsettings",
    "mail_mailsettings",
    "search_searchword",  # the vocabulary is keyed by the word itself (a natural key, no id)
    "webhooks_outboxevent",
}


def test_no_foreign_key_leaves_the_organizations_schema(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.relname, c.conname, fn.nspname FROM pg_constraint c "
            "JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
            "JOIN pg_class f ON f.oid = c.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace "
            "WHERE c.contype = 'f' AND n.nspname = %s AND fn.nspname <> n.nspname",
            [settings.TENANT_BASE_SCHEMA],
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT count(*) FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid "
            "JOIN pg_namespace n ON n.oid = r.relnamespace WHERE c.contype = 'f' AND n.nspname = %s",
            [settings.TENANT_BASE_SCHEMA],
        )
        assert cursor.fetchone()[0] > 10  # the check above looked at the real foreign keys


def test_every_table_of_ours_is_keyed_by_a_bigint(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, format_type(a.atttypid, a.atttypmod) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey) "
            "WHERE i.indisprimary AND n.nspname = %s",
            [settings.TENANT_BASE_SCHEMA],
        )
        keys = dict(cursor.fetchall())
    assert len(keys) > 20
    assert {table for table, kind in keys.items() if kind != "bigint"} == NOT_BIGINT_ON_PURPOSE
