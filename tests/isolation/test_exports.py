"""An export holds its organization's rows only: the streamed CSV, and the file an export job writes, even
when both organizations' exports have the same id. (An SSE stream carries only its organization's events:
tests/tenant_apps/realtime/test_stream.py, against a real ASGI server.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from tests.isolation.support import Credentials, Records, call


def _csv(response: Any) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


def _leads(organization: Organization, admin: Credentials) -> None:
    """Two leads named "<slug> lead <n>"."""
    records = Records(organization, admin)
    records.lead()
    records.lead()


def test_a_streamed_csv_export_holds_the_hosts_rows_only(org, other_org, acme: Credentials, globex_admin):
    _leads(org, acme)
    _leads(other_org, globex_admin)
    for organization, credentials, other in ((org, acme, other_org), (other_org, globex_admin, org)):
        response = call(
            organization, "GET", "/api/exports/leads.csv", headers=credentials.kinds()["bearer token"]
        )
        assert response.status_code == 200
        body = _csv(response)
        assert f"{organization.slug} lead" in body and f"{other.slug} lead" not in body


@pytest.mark.parametrize(
    ("kind", "make", "word"), [("opportunities", "opportunity", "deal"), ("tasks", "task", "task")]
)
def test_deals_and_tasks_exports_hold_the_hosts_rows_only(
    org, other_org, acme: Credentials, globex_admin, kind, make, word
):
    for organization, credentials in ((org, acme), (other_org, globex_admin)):
        getattr(Records(organization, credentials), make)()
    for organization, credentials, other in ((org, acme, other_org), (other_org, globex_admin, org)):
        response = call(
            organization, "GET", f"/api/exports/{kind}.csv", headers=credentials.kinds()["bearer token"]
        )
        assert response.status_code == 200
        body = _csv(response)
        assert f"{organization.slug} {word}" in body and f"{other.slug} {word}" not in body


def test_export_files_of_the_same_id_stay_apart(
    org,
    other_org,
    acme: Credentials,
    globex_admin,
    run_jobs,
    django_capture_on_commit_callbacks,
    settings,
    tmp_path,
):
    settings.EXPORTS_DIR = tmp_path
    _leads(org, acme)
    _leads(other_org, globex_admin)
    next_ids = []
    for organization in (org, other_org):
        with schema_context(organization.schema_name), connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('imports_export', 'id'))")
            next_ids.append(cursor.fetchone()[0])
    ids = {}
    for organization, credentials in ((org, acme), (other_org, globex_admin)):
        with schema_context(organization.schema_name), connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('imports_export', 'id'), %s)", [max(next_ids)]
            )
        with django_capture_on_commit_callbacks(execute=True):
            response = call(
                organization,
                "POST",
                "/api/exports/",
                headers=credentials.kinds()["bearer token"],
                body={"record_type": "leads"},
            )
        assert response.status_code == 202, response.content
        ids[organization.slug] = response.json()["id"]
    assert ids["acme"] == ids["globex"]
    jobs = run_jobs("low")
    assert len(jobs) == 2 and all(job.is_finished for job in jobs), [job.latest_result() for job in jobs]

    for organization, credentials, other in ((org, acme, other_org), (other_org, globex_admin, org)):
        path = f"/api/exports/{ids['acme']}/download/"
        response = call(organization, "GET", path, headers=credentials.kinds()["bearer token"])
        assert response.status_code == 200, response.content
        body = _csv(response)
        assert f"{organization.slug} lead" in body and f"{other.slug} lead" not in body
