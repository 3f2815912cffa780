"""The plan's storage limit (`max_storage_mb`): the schema's size and the files as the usage job last
measured them, plus files stored since, enforced on writes that add data (record creates, imports, emailed
attachments) with 402 plan_limit_reached naming `storage_mb`, and the admins warned at 80%."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.organizations import limits
from shared_apps.organizations.models import Organization, OrganizationUsage, PlanDefinition
from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.notifications.models import Notification

MB = 1024 * 1024


@pytest.fixture
def storage_plan(org, platform_api):
    """acme on a plan of 10 MB, with `used(bytes)` setting what the usage job last measured."""
    PlanDefinition.objects.create(slug="small", name="Small", max_storage_mb=10)
    response = platform_api.patch("/api/platform/organizations/acme/", {"plan": "small"}, format="json")
    assert response.status_code == 200

    def used(schema_bytes: int, file_bytes: int = 0) -> None:
        OrganizationUsage.objects.update_or_create(
            organization=org,
            defaults={"collected_at": timezone.now(), "schema_bytes": schema_bytes, "file_bytes": file_bytes},
        )
        limits.forget_storage(org.pk)  # as the usage job does after measuring

    return used


def refused(response, current):
    assert response.status_code == 402, response.content
    body = response.json()
    assert body["code"] == "plan_limit_reached"
    assert body["details"] == {"limit": "storage_mb", "max": 10, "current": current}


def test_records_are_refused_once_storage_is_at_the_limit(api, storage_plan):
    client = api(Role.ADMIN)
    storage_plan(6 * MB, 1 * MB)
    assert client.post("/api/leads/", {"name": "Fits"}, format="json").status_code == 201
    storage_plan(9 * MB, 1 * MB)
    refused(client.post("/api/leads/", {"name": "Full"}, format="json"), 10)
    refused(client.post("/api/accounts/", {"name": "Full Inc"}, format="json"), 10)
    # reads and changes that add nothing go on
    assert client.get("/api/leads/").status_code == 200


def test_imports_are_refused_at_the_limit(api, storage_plan, settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path
    storage_plan(11 * MB)
    response = api(Role.MANAGER).post(
        "/api/imports/",
        {
            "file": SimpleUploadedFile("rows.csv", b"name\nAda\n", content_type="text/csv"),
            "options": json.dumps({"record_type": "lead"}),
        },
        format="multipart",
    )
    refused(response, 11)


def test_attachments_that_would_pass_the_limit_are_refused_before_sending(api, storage_plan, org):
    client = api(Role.ADMIN)
    lead = client.post("/api/leads/", {"name": "Jane", "email": "jane@customer.test"}, format="json").json()
    storage_plan(9 * MB + MB // 2)
    response = client.post(
        f"/api/leads/{lead['id']}/emails/send/",
        {
            "subject": "Files",
            "body": "Attached.",
            "attachments": [SimpleUploadedFile("big.bin", b"x" * (MB // 2 + 1), "application/octet-stream")],
        },
        format="multipart",
    )
    refused(response, 10)
    with schema_context(org.schema_name):
        assert not Activity.objects.filter(type=ActivityType.EMAIL).exists()


def test_files_stored_since_the_last_measure_count(org, storage_plan):
    storage_plan(5 * MB)
    with schema_context(org.schema_name):
        assert limits.storage_used(Organization.objects.get(pk=org.pk)) == 5 * MB
        limits.storage_add(3 * MB)
        assert limits.storage_used(Organization.objects.get(pk=org.pk)) == 8 * MB


def test_admins_are_warned_at_80_percent_of_storage(
    api, storage_plan, org, django_capture_on_commit_callbacks
):
    storage_plan(8 * MB + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert api(Role.ADMIN).post("/api/leads/", {"name": "Near"}, format="json").status_code == 201
    with schema_context(org.schema_name):
        warned = Notification.objects.filter(kind="plan_limit")
        assert warned.exists()
        assert warned.first().data == {"limit": "storage_mb", "max": 10, "current": 9}


def test_without_a_storage_limit_nothing_is_counted(api, org):
    OrganizationUsage.objects.create(organization=org, collected_at=timezone.now(), schema_bytes=10**12)
    assert api(Role.ADMIN).post("/api/leads/", {"name": "Free"}, format="json").status_code == 201
