from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.imports import services
from tenant_apps.imports.models import Import
from tenant_apps.leads.models import Lead
from tests.conftest import client_for


class SimulatedKill(BaseException):
    """Stands for a worker killed between batches: not an Exception, so nothing in the job handles it."""


@pytest.fixture(autouse=True)
def _exports_dir(settings: Any, tmp_path: Any) -> None:
    settings.EXPORTS_DIR = tmp_path / "exports"


@pytest.fixture
def manager(member: Callable[..., User]) -> User:
    return member(role=Role.MANAGER)


@pytest.fixture
def client(org: Organization, manager: User) -> APIClient:
    """acme's manager, signed in."""
    return client_for(org, manager)


def upload(client: APIClient, content: bytes | str, *, name: str = "rows.csv", **options: Any) -> Any:
    """POST /api/imports/ as multipart: the file, and the options as JSON (record_type lead by default)."""
    options.setdefault("record_type", "lead")
    data = content.encode() if isinstance(content, str) else content
    return client.post(
        "/api/imports/",
        {"file": SimpleUploadedFile(name, data, content_type="text/csv"), "options": json.dumps(options)},
        format="multipart",
    )


def run(organization: Organization, import_id: int) -> Import:
    """The import's job, run in its organization's schema as the worker runs it."""
    with schema_context(organization.schema_name):
        return services.import_run(import_id=import_id)


def revert(organization: Organization, import_id: int) -> Import:
    with schema_context(organization.schema_name):
        return services.import_revert_run(import_id=import_id)


@pytest.fixture
def imported(client: APIClient, org: Organization) -> Callable[..., Import]:
    """imported(csv_text, **options): upload through the API (202), run the job, return the import."""

    def make(content: bytes | str, **options: Any) -> Import:
        response = upload(client, content, **options)
        assert response.status_code == 202, response.content
        return run(org, response.json()["id"])

    return make


def leads(organization: Organization, **filters: Any) -> list[dict[str, Any]]:
    with schema_context(organization.schema_name):
        return list(Lead.objects.filter(**filters).order_by("id").values())


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def assert_counts_add_up(run: Import) -> None:
    assert run.rows_read is not None
    assert run.imported + run.updated + run.skipped + run.failed == run.rows_read, run.__dict__
