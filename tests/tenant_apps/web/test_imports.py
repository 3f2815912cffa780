"""The imports page: recent imports with a progress bar and their error file, and an upload form."""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.imports.models import Import, ImportStatus


def csv_file(content: bytes = b"name,email\nJane Import,jane@import.example\n") -> SimpleUploadedFile:
    return SimpleUploadedFile("leads.csv", content, content_type="text/csv")


def test_uploading_queues_an_import_shown_with_its_progress(web, org):
    client = web(Role.MANAGER)
    response = client.post(
        "/imports/upload/", {"file": csv_file(), "record_type": "lead", "duplicate_policy": "skip"}
    )
    assert (response.status_code, response["Location"]) == (302, "/imports/")
    with schema_context(org.schema_name):
        run = Import.objects.get()
    assert (run.record_type, run.status, run.file_name, run.created_by_id) == (
        "lead",
        ImportStatus.QUEUED,
        "leads.csv",
        client.user.pk,
    )
    page = client.get("/imports/").content.decode()
    assert "Import of leads.csv queued." in page
    row = re.search(rf'<li class="row import" id="import-{run.pk}".*?</li>', page, re.S).group(0)
    assert '<progress id="progress-' in row and 'value="0"' in row
    assert f'href="/api/imports/{run.pk}/errors.csv"' in row


def test_a_finished_import_shows_full_progress_and_its_error_file(web, org):
    client = web(Role.ADMIN)
    with schema_context(org.schema_name):
        Import.objects.create(
            record_type="lead",
            status=ImportStatus.DONE,
            rows_read=4,
            imported=3,
            failed=1,
            file_name="done.csv",
        )
    page = client.get("/imports/").content.decode()
    row = re.search(r'<li class="row import".*?</li>', page, re.S).group(0)
    assert 'value="100"' in row and "Done" in row
    assert re.search(r'<a href="/api/imports/\d+/errors.csv" data-field="errors">', row)


def test_bad_uploads_say_why(web, org):
    client = web(Role.MANAGER)
    empty = client.post("/imports/upload/", {"file": csv_file(b""), "record_type": "lead"}, follow=True)
    assert empty.status_code == 200 and 'class="msg error"' in empty.content.decode()
    unknown = client.post("/imports/upload/", {"file": csv_file(), "record_type": "planet"}, follow=True)
    assert "The rows are: Select a valid choice." in unknown.content.decode()
    missing = client.post("/imports/upload/", {"record_type": "lead"}, follow=True)
    assert "CSV file: This field is required." in missing.content.decode()
    with schema_context(org.schema_name):
        assert not Import.objects.exists()


def test_imports_are_for_managers_and_admins(web, anonymous, org):
    rep = web(Role.REP)
    assert rep.get("/imports/").status_code == 403
    assert "Imports" not in re.search(
        r'<nav aria-label="Main"[^>]*>.*?</nav>', rep.get("/").content.decode(), re.S
    ).group(0)
    refused = rep.post("/imports/upload/", {"file": csv_file(), "record_type": "lead"}, follow=True)
    assert "Imports are for managers and admins." in refused.content.decode()
    assert anonymous.get("/imports/").status_code == 302
    with schema_context(org.schema_name):
        assert not Import.objects.exists()


def test_the_imports_page_costs_the_same_queries_however_many_imports(web, org):
    client = web(Role.ADMIN)
    client.get("/imports/")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/imports/").status_code == 200
        return len(queries)

    few = count()
    with schema_context(org.schema_name):
        for index in range(5):
            Import.objects.create(record_type="lead", file_name=f"{index}.csv", created_by=client.user)
    assert count() == few
