"""Organizations' schemas differ by their custom fields' indexes (and definitions): migrate_organizations
and provisioning by cloning the template keep working, and a clone starts with no fields."""

from __future__ import annotations

from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.organizations.migrating import migrate_organizations
from shared_apps.organizations.services import organization_provision
from shared_apps.users.models import Role
from tenant_apps.customfields.indexes import index_exists
from tenant_apps.customfields.models import CustomField
from tenant_apps.leads.models import Lead

# a leaf migration whose re-application changes nothing (tests/ops/test_migrations.py)
APP, NAME = "search", "0003_search_words_deferrable"


def test_migrations_and_clones_work_with_schemas_that_differ(
    org, api, run_jobs, django_capture_on_commit_callbacks
):
    admin = api(Role.ADMIN)
    with django_capture_on_commit_callbacks(execute=True):
        made = admin.post(
            "/api/custom-fields/",
            {"record_type": "lead", "key": "region", "label": "Region", "type": "text", "filterable": True},
            format="json",
        ).json()
    run_jobs()
    admin.post("/api/leads/", {"name": "EU", "custom": {"region": "EU"}}, format="json")
    with schema_context(org.schema_name):
        name = CustomField.objects.get(pk=made["id"]).index_name
        assert index_exists(name)
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{org.schema_name}".django_migrations WHERE app = %s AND name = %s', [APP, NAME]
        )
    report = migrate_organizations(workers=1)
    assert org.schema_name in report.migrated and not report.failed
    with schema_context(org.schema_name):
        assert index_exists(name)  # the organization's own index survives its migration
        assert Lead.objects.filter(custom__region="EU").count() == 1
    connection.set_schema_to_public()
    clone = organization_provision(
        name="Cloned", slug="cfclone", admin_email="boss@cfclone.test", admin_password="a-long-passphrase"
    )
    with schema_context(clone.schema_name):
        assert not CustomField.objects.exists()
        assert not index_exists(name)
        lead = Lead.objects.create(name="Fresh", stage="NEW", currency="USD")
        assert Lead.objects.get(pk=lead.pk).custom == {}
