"""Idempotency-Key on uploads larger than DATA_UPLOAD_MAX_MEMORY_SIZE: the fingerprint is taken from the
parsed fields and a digest of each file (multipart) or from the streamed body (text/csv), never from
request.body, so a big import with a key is accepted and replayed, with JSON errors throughout."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from tenant_apps.imports.models import Import
from tests.tenant_apps.imports.conftest import run


def big_csv(marker: str = "a") -> bytes:
    """A CSV file over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default)."""
    rows = "".join(f"Lead {marker} {i},lead-{marker}-{i}@example.com\n" for i in range(70_000))
    body = ("name,email\n" + rows).encode()
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return body


def post_multipart(client, content: bytes, key: str, **options):
    options.setdefault("record_type", "lead")
    return client.post(
        "/api/imports/",
        {
            "file": SimpleUploadedFile("big.csv", content, content_type="text/csv"),
            "options": json.dumps(options),
        },
        format="multipart",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_big_multipart_upload_with_a_key_is_accepted_and_replayed_without_a_second_import(client, org):
    content = big_csv()
    first = post_multipart(client, content, "upload-1")
    assert first.status_code == 202, first.content[:500]
    again = post_multipart(client, content, "upload-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (202, "true")
    assert again.json() == first.json()
    assert Import.objects.count() == 1
    # the file the view stored is the whole file, read from its start after the fingerprint
    done = run(org, first.json()["id"])
    assert done.rows_read == 70_000


def test_the_same_key_with_another_file_of_the_same_name_is_422(client):
    assert post_multipart(client, big_csv("a"), "upload-2").status_code == 202
    other = post_multipart(client, big_csv("b"), "upload-2")
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    other_options = post_multipart(client, big_csv("a"), "upload-2", tags=["fair"])
    assert (other_options.status_code, other_options.json()["code"]) == (422, "idempotency_key_reused")
    assert Import.objects.count() == 1


def test_a_big_raw_csv_body_with_a_key_is_accepted_and_replayed(client, org):
    content = big_csv()

    def post(body: bytes):
        return client.post(
            "/api/imports/?record_type=lead", data=body, content_type="text/csv", HTTP_IDEMPOTENCY_KEY="raw-1"
        )

    first = post(content)
    assert first.status_code == 202, first.content[:500]
    again = post(content)
    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (202, first.json(), "true")
    assert (post(big_csv("b")).status_code, Import.objects.count()) == (422, 1)
    with schema_context(org.schema_name):
        assert run(org, first.json()["id"]).rows_read == 70_000


def test_a_form_the_server_refuses_to_parse_is_a_json_400(client):
    body = urlencode({f"field{i}": i for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)})
    response = client.post(
        "/api/imports/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_IDEMPOTENCY_KEY="form-1",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "bad_request"


def test_both_urlconfs_answer_400_404_and_500_in_json():
    from importlib import import_module

    from django.test import RequestFactory
    from django.urls import get_resolver

    request = RequestFactory().get("/nowhere")
    for urlconf in ("config.urls_public", "config.urls_tenant"):
        module = import_module(urlconf)
        for status in (400, 404, 500):
            assert getattr(module, f"handler{status}", None), (urlconf, status)
            view = get_resolver(urlconf).resolve_error_handler(status)
            response = view(request) if status == 500 else view(request, exception=Exception("x"))
            assert (response.status_code, response["Content-Type"]) == (status, "application/json")
            assert json.loads(response.content)["code"]
