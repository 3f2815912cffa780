"""`migrate_organizations`: one query finds the organizations behind the template; only those are migrated."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shared_apps.organizations.migrating import migrate_organizations, schemas_behind

# A leaf migration whose re-application changes nothing (CREATE OR REPLACE of a function): dropping its row
# makes a schema "one migration behind".
APP, NAME = "search", "0003_search_words_deferrable"


def _forget(schema: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{schema}".django_migrations WHERE app = %s AND name = %s', [APP, NAME])


def _has(schema: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT 1 FROM "{schema}".django_migrations WHERE app = %s AND name = %s', [APP, NAME]
        )
        return cursor.fetchone() is not None


def test_only_the_organization_missing_a_migration_is_migrated(org, other_org):
    _forget(org.schema_name)
    out = StringIO()
    call_command("migrate_organizations", workers=1, stdout=out)
    output = out.getvalue()
    assert "1 behind" in output
    assert f"migrated: {org.schema_name}\n" in output
    assert other_org.schema_name not in output
    assert _has(org.schema_name)


def test_report_names_exactly_the_schemas_behind(org, other_org):
    _forget(other_org.schema_name)
    report = migrate_organizations(workers=1)
    assert report.behind == [other_org.schema_name]
    assert report.migrated == [other_org.schema_name]
    assert not report.failed
    assert report.checked >= 2


def test_second_run_has_nothing_to_do(org):
    _forget(org.schema_name)
    migrate_organizations(workers=1)
    report = migrate_organizations(workers=1)
    assert report.behind == [] and report.migrated == []
    assert report.public_pending == [] and report.template_pending == []


def test_dry_run_changes_nothing(org):
    _forget(org.schema_name)
    out = StringIO()
    call_command("migrate_organizations", dry_run=True, stdout=out)
    assert f"would migrate: {org.schema_name}" in out.getvalue()
    assert not _has(org.schema_name)


def test_finding_the_organizations_behind_costs_two_queries_whatever_their_number(org, other_org):
    _forget(org.schema_name)
    with CaptureQueriesContext(connection) as one:
        assert schemas_behind([org.schema_name]) == ([org.schema_name], [])
    with CaptureQueriesContext(connection) as two:
        assert schemas_behind([org.schema_name, other_org.schema_name]) == ([org.schema_name], [])
    count = len([q for q in one.captured_queries if "search_path" not in q["sql"]])
    assert count == len([q for q in two.captured_queries if "search_path" not in q["sql"]]) == 2


def test_many_organizations_are_compared_in_chunks_with_the_same_answer(org, other_org, monkeypatch):
    from shared_apps.organizations import migrating

    _forget(other_org.schema_name)
    schemas = [org.schema_name, other_org.schema_name]
    monkeypatch.setattr(migrating, "LEVEL_CHECK_CHUNK", 1)
    with CaptureQueriesContext(connection) as chunked:
        assert schemas_behind(schemas) == ([other_org.schema_name], [])
    assert len([q for q in chunked.captured_queries if "search_path" not in q["sql"]]) == 1 + 2


def test_a_missing_schema_is_reported_not_migrated(org):
    behind, missing = schemas_behind([org.schema_name, "org_no_such_schema"])
    assert behind == [] and missing == ["org_no_such_schema"]


def test_workers_must_be_positive(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("migrate_organizations", workers=0, stdout=StringIO())
