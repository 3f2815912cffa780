"""What an organization keeps outside its schema (cache entries in Redis, export files) is filed under its id,
which is never reused, and removed when it is purged: a new organization under the same slug starts clean."""

from __future__ import annotations

import pytest
from django.core.cache import cache, caches
from django_tenants.utils import schema_context

from shared_apps.core.db import connection
from shared_apps.organizations import namespace
from shared_apps.organizations.services import (
    organization_delete,
    organization_provision,
    organization_purge,
)
from shared_apps.users.models import User
from tenant_apps.leads.models import Lead
from tests.conftest import PASSWORD, client_for

pytestmark = pytest.mark.usefixtures("public")


def provision(slug: str):
    return organization_provision(
        name=slug.title(), slug=slug, admin_email=f"boss@{slug}.test", admin_password=PASSWORD
    )


def post_lead(organization, name: str, idempotency_key: str):
    """As the organization's admin, with an Idempotency-Key; back in the public schema afterwards."""
    with schema_context(organization.schema_name):
        admin = User.objects.get()
    client = client_for(organization, admin)
    response = client.post("/api/leads/", {"name": name}, format="json", HTTP_IDEMPOTENCY_KEY=idempotency_key)
    connection.set_schema_to_public()
    return response


def redis_keys(organization_id: int) -> list:
    client = caches["default"]._cache.get_client(write=False)
    return list(client.scan_iter(match=f"{caches['default'].key_prefix}:o{organization_id}:*"))


def test_a_new_organization_under_a_purged_slug_does_not_replay_its_predecessors_writes(settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path
    first = provision("initech")
    schema_name = first.schema_name
    created = post_lead(first, "Milton", "create-lead-1")
    assert created.status_code == 201
    with schema_context(first.schema_name):
        export_file = namespace.exports_dir() / "leads.csv"
    export_file.parent.mkdir(parents=True)
    export_file.write_text("name\nMilton\n")
    assert export_file.parent == tmp_path / str(first.pk)
    assert redis_keys(first.pk)

    with connection.cursor() as cursor:  # the test's one transaction: run the deferred FK checks before DROP
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    first = organization_delete(organization=first)
    organization_purge(organization=first, confirm="initech")
    assert redis_keys(first.pk) == []
    assert not export_file.parent.exists()

    second = provision("initech")
    assert second.schema_name == schema_name  # the same schema name: only the id tells them apart
    again = post_lead(second, "Milton", "create-lead-1")
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    with schema_context(second.schema_name):
        assert list(Lead.objects.values_list("name", flat=True)) == ["Milton"]


def test_requests_and_jobs_file_cache_entries_under_the_same_id(org, other_org):
    connection.set_tenant(org)  # a request: the tenant is the Organization row
    cache.set("shared", "acme")
    in_request = namespace.cache_key("shared", "lp", 1)
    with schema_context(org.schema_name):  # a job: the schema is entered by name
        assert namespace.cache_key("shared", "lp", 1) == in_request == f"lp:o{org.pk}:1:shared"
        assert cache.get("shared") == "acme"
    with schema_context(other_org.schema_name):
        assert cache.get("shared") is None
    connection.set_schema_to_public()
    assert namespace.cache_key("shared", "lp", 1) == "lp:public:1:shared"


def test_purging_one_organization_leaves_anothers_cache_alone(org, other_org):
    with schema_context(org.schema_name):
        cache.set("numbers", "acme's")
    with schema_context(other_org.schema_name):
        cache.set("numbers", "globex's")
    namespace.cache_forget(org.pk)
    with schema_context(org.schema_name):
        assert cache.get("numbers") is None
    with schema_context(other_org.schema_name):
        assert cache.get("numbers") == "globex's"
