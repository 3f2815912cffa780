"""Per-organization backup → restore round trips, restore under a new slug, and the leaving customer's export.

pg_dump reads committed data through its own connection: the backups here are of the session's committed
organizations. Restore and export run on the test's connection, so what they write is rolled back."""

from __future__ import annotations

import json
import zipfile
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import schema_context

from shared_apps.organizations.backup import table_counts
from shared_apps.organizations.models import Domain, Organization, OrganizationStatus
from shared_apps.organizations.services import organization_delete, organization_purge
from shared_apps.users.models import User
from tenant_apps.leads.models import Lead


@pytest.fixture
def backup_of(tmp_path):
    def make(slug: str) -> tuple[str, dict]:
        path = str(tmp_path / f"{slug}.tar.gz")
        call_command("org_backup", slug, path, stdout=StringIO())
        import tarfile

        with tarfile.open(path) as archive:
            manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
        return path, manifest

    return make


def test_backup_delete_purge_restore_keeps_every_row_count(org, backup_of):
    before = table_counts(org.schema_name)
    path, manifest = backup_of("acme")
    assert manifest["tables"] == before
    assert before["users_user"] >= 1  # the provisioned admin at least
    purged = organization_delete(organization=org)
    organization_purge(organization=purged, confirm="acme")
    assert not Organization.objects.filter(slug="acme").exclude(status=OrganizationStatus.DELETED).exists()

    out = StringIO()
    call_command("org_restore", path, stdout=out)
    assert "restored acme into schema org_acme" in out.getvalue()
    restored = Organization.objects.get(slug="acme", status=OrganizationStatus.ACTIVE)
    assert restored.schema_name == "org_acme"
    assert table_counts("org_acme") == before
    assert Domain.objects.get(tenant=restored, is_primary=True).domain == f"acme.{settings.BASE_DOMAIN}"
    with schema_context("org_acme"):
        assert User.objects.filter(email="admin@acme.test").exists()


def test_restore_under_a_new_slug_while_the_original_is_live(org, backup_of, api):
    path, manifest = backup_of("acme")
    call_command("org_restore", path, slug="acme-copy", stdout=StringIO())
    copy = Organization.objects.get(slug="acme-copy")
    assert copy.schema_name == "org_acme_copy"
    assert table_counts("org_acme_copy") == manifest["tables"]
    assert table_counts("org_acme") == manifest["tables"]
    # the copy is a separate organization: writes in one do not show in the other
    with schema_context("org_acme_copy"):
        Lead.objects.create(name="Only InCopy", email="only@copy.test")
    with schema_context("org_acme"):
        assert not Lead.objects.filter(email="only@copy.test").exists()
    # and it answers on its own host (the sequences came along: new ids do not collide)
    response = api(organization=copy).get("/api/me/")
    assert response.status_code == 200


def test_restore_refuses_a_live_slug(org, backup_of):
    path, _ = backup_of("acme")
    with pytest.raises(CommandError, match="slug_taken"):
        call_command("org_restore", path, stdout=StringIO())
    with pytest.raises(CommandError, match="slug_taken"):
        call_command("org_restore", path, slug="globex", stdout=StringIO())


def test_restore_refuses_a_file_that_is_not_a_backup(db, tmp_path):
    path = tmp_path / "junk.tar.gz"
    path.write_bytes(b"not a tarball")
    with pytest.raises(CommandError, match="invalid_backup"):
        call_command("org_restore", str(path), slug="someone", stdout=StringIO())


def test_backup_of_an_unknown_organization_is_refused(db, tmp_path):
    with pytest.raises(CommandError, match="organization_not_found"):
        call_command("org_backup", "nobody", str(tmp_path / "x.tar.gz"), stdout=StringIO())


def _export(slug: str, tmp_path) -> tuple[dict, dict[str, list[dict]]]:
    path = tmp_path / f"{slug}.zip"
    call_command("org_export", slug, str(path), stdout=StringIO())
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        rows = {
            table: [json.loads(line) for line in archive.read(info["file"]).decode().splitlines()]
            for table, info in manifest["tables"].items()
        }
    return manifest, rows


def test_export_contains_only_that_organizations_rows_and_no_secrets(org, other_org, tmp_path):
    with schema_context(org.schema_name):
        Lead.objects.create(name="Acme Only", email="acme-only@x.test")
    with schema_context(other_org.schema_name):
        Lead.objects.create(name="Globex Only", email="globex-only@x.test")

    manifest, rows = _export("acme", tmp_path)
    emails = {lead["email"] for lead in rows["leads_lead"]}
    assert "acme-only@x.test" in emails and "globex-only@x.test" not in emails
    assert manifest["organization"]["slug"] == "acme"
    assert manifest["tables"]["leads_lead"]["rows"] == len(rows["leads_lead"])
    assert {u["email"] for u in rows["users_user"]} >= {"admin@acme.test"}
    assert all("password" not in u for u in rows["users_user"])
    assert "users_authtoken" not in rows and "django_migrations" not in rows

    _, globex_rows = _export("globex", tmp_path)
    globex_emails = {lead["email"] for lead in globex_rows["leads_lead"]}
    assert "globex-only@x.test" in globex_emails and "acme-only@x.test" not in globex_emails
