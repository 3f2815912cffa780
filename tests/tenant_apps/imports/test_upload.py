"""The upload: what is refused at once (400 naming the field, 413), encodings, delimiters, headers and
options."""

import codecs

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.utils import CaptureQueriesContext

from shared_apps.users.models import Role
from tenant_apps.imports.models import Import
from tests.tenant_apps.imports.conftest import leads, run, upload

GOOD = "name,email\nJane Doe,jane@example.com\n"


def test_upload_is_accepted_with_an_import_id_and_queued(client):
    response = upload(client, GOOD)
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["record_type"], body["mapping"]) == (
        "queued",
        "lead",
        {"name": "name", "email": "email"},
    )
    assert client.get(f"/api/imports/{body['id']}/").json()["status"] == "queued"
    assert [row["id"] for row in client.get("/api/imports/").json()["results"]] == [body["id"]]


def test_a_raw_text_csv_body_takes_its_options_from_the_query(client, org):
    response = client.post(
        "/api/imports/?record_type=lead&tags=Fair,2026&duplicate_policy=create&file_name=fair.csv",
        data=GOOD.encode(),
        content_type="text/csv",
    )
    assert response.status_code == 202, response.content
    assert (response.json()["tags"], response.json()["file_name"]) == (["fair", "2026"], "fair.csv")
    done = run(org, response.json()["id"])
    assert done.imported == 1
    assert leads(org)[0]["tags"] == ["fair", "2026"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"  \r\n\r\n", "empty_file"),
        (codecs.BOM_UTF8, "empty_file"),
        (b"name,email\n", "no_rows"),
        (b"\x00\x01\x02\x03binary\x00\xff\xfe" * 50, "not_csv"),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100, "not_csv"),  # an .xlsx workbook is a ZIP file
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "not_csv"),
        (bytes(range(1, 32)) * 20, "not_csv"),  # control characters, no NUL
    ],
)
def test_files_that_are_not_csv_or_hold_no_rows_are_400_naming_file(client, content, code):
    response = upload(client, content)
    assert response.status_code == 400, response.content
    assert (response.json()["code"], list(response.json()["errors"])) == (code, ["file"])
    assert not Import.objects.exists()


def test_a_raw_body_that_is_empty_is_400(client):
    response = client.post("/api/imports/?record_type=lead", data=b"", content_type="text/csv")
    assert (response.status_code, response.json()["code"]) == (400, "empty_file")


def test_a_file_over_the_byte_limit_is_413(client, settings):
    settings.IMPORT_MAX_BYTES = 100
    body = GOOD + "".join(f"Lead {i},lead{i}@example.com\n" for i in range(20))
    response = upload(client, body)
    assert (response.status_code, response.json()["code"]) == (413, "file_too_large")
    raw = client.post("/api/imports/?record_type=lead", data=body.encode(), content_type="text/csv")
    assert (raw.status_code, raw.json()["code"]) == (413, "file_too_large")
    assert not Import.objects.exists()


def test_a_file_of_more_rows_than_the_limit_is_400(client, settings):
    settings.IMPORT_MAX_ROWS = 3
    body = "name\n" + "".join(f"Lead {i}\n" for i in range(4))
    response = upload(client, body)
    assert (response.status_code, response.json()["code"]) == (400, "too_many_rows")
    # quoted newlines make more lines than rows: three rows on six lines are within the limit
    within = 'name\n"Lead\n1"\n"Lead\n2"\n"Lead\n3"\n'
    assert upload(client, within).status_code == 202


def test_a_file_over_the_limit_beyond_the_first_bytes_is_refused_too(client, settings):
    settings.IMPORT_MAX_ROWS = 5000
    body = "name\n" + "".join(f"A lead with a long enough name {i}\n" for i in range(5001))
    assert len(body) > 64 * 1024
    assert upload(client, body).json()["code"] == "too_many_rows"


def test_latin1_file(imported, org):
    content = "name,company,email\nJosé Müller,Société Générale,jose@example.com\n".encode("latin-1")
    done = imported(content)
    assert (done.status, done.encoding, done.imported) == ("done", "latin-1", 1)
    [lead] = leads(org)
    assert (lead["name"], lead["company"]) == ("José Müller", "Société Générale")
    assert lead["identity_key"] == "societe generale|jose muller"


def test_windows_1252_characters_beyond_latin1_decode_as_windows_does(imported, org):
    content = "name,company\nZoë Ltd € Fund,Smith’s Bakery\n".encode("cp1252")  # noqa: RUF001
    assert b"\x80" in content and b"\x92" in content
    imported(content)
    [lead] = leads(org)
    assert (lead["name"], lead["company"]) == ("Zoë Ltd € Fund", "Smith’s Bakery")  # noqa: RUF001


def test_a_latin1_row_after_the_first_64_kib_switches_the_decoding(imported, org):
    head = "name,email\n" + "".join(f"Lead number {i},lead{i}@example.com\n" for i in range(3000))
    content = head.encode() + "Françoise,francoise@example.com\n".encode("latin-1")
    assert len(head) > 64 * 1024
    done = imported(content)
    assert (done.status, done.encoding, done.imported) == ("done", "latin-1", 3001)
    assert leads(org, email="francoise@example.com")[0]["name"] == "Françoise"


def test_utf8_with_a_byte_order_mark(imported, org):
    done = imported(codecs.BOM_UTF8 + "name,email\nÅsa,asa@example.com\n".encode())
    assert (done.encoding, done.header, done.imported) == ("utf-8-sig", ["name", "email"], 1)
    assert leads(org)[0]["name"] == "Åsa"


def test_utf16_with_a_byte_order_mark(imported, org):
    done = imported("name,email\nÅsa,asa@example.com\n".encode("utf-16"))
    assert (done.encoding, done.imported) == ("utf-16", 1)


@pytest.mark.parametrize(("delimiter", "name"), [(";", ";"), ("\t", "\t"), ("|", "|")])
def test_semicolon_tab_and_pipe_delimiters_are_detected(imported, org, delimiter, name):
    content = (
        f"name{delimiter}email{delimiter}value\nJane, Jr.{delimiter}jane@example.com{delimiter}1200.50\n"
    )
    done = imported(content)
    assert (done.delimiter, done.imported) == (name, 1)
    [lead] = leads(org)
    assert (lead["name"], lead["email"], str(lead["value"])) == ("Jane, Jr.", "jane@example.com", "1200.50")


def test_an_explicit_delimiter_wins(client):
    response = upload(client, "name;email\nJane;jane@example.com\n", delimiter="tab")
    # with tab, the header is one column called "name;email", which names no field
    assert (response.status_code, response.json()["code"]) == (400, "no_columns")


def test_quoted_fields_hold_delimiters_quotes_and_newlines_and_lines_are_counted(imported, org, client):
    content = (
        "name,email,company\n"
        '"Doe, Jane",jane@example.com,"The ""Best"" Co"\n'
        '"Multi\nLine",multi@example.com,"Two\r\nLines"\n'
        "Bad,not-an-email,X\n"
    )
    done = imported(content)
    assert (done.imported, done.failed) == (2, 1)
    names = {lead["name"]: lead["company"] for lead in leads(org)}
    assert names == {"Doe, Jane": 'The "Best" Co', "Multi\nLine": "Two\r\nLines"}
    errors = client.get(f"/api/imports/{done.pk}/errors.csv")
    body = b"".join(errors.streaming_content).decode()
    # lines: the header 1, Doe 2, Multi 3 to 5 (two quoted line breaks), Bad 6
    assert body.splitlines()[1].startswith("6,failed,invalid_email,email,")


def test_headers_are_matched_to_fields_and_aliases(imported, org):
    content = (
        "Full Name,E-mail Address,Company Name,Lead Status,Amount,Notes\nJane,JANE@X.COM,Acme,won,5,hi\n"
    )
    done = imported(content)
    assert done.mapping == {"name": 0, "email": 1, "company": 2, "stage": 3, "value": 4}
    [lead] = leads(org)
    assert (lead["email"], lead["company"], lead["stage"]) == ("jane@x.com", "Acme", "WON")


def test_an_explicit_mapping_and_a_file_without_header(imported, org):
    done = imported(
        "jane@example.com;Jane;ignored\n", has_header=False, mapping={"1": "email", "2": "name", "3": None}
    )
    assert (done.imported, done.header) == (1, ["1", "2", "3"])
    assert (leads(org)[0]["name"], leads(org)[0]["email"]) == ("Jane", "jane@example.com")


@pytest.mark.parametrize(
    ("options", "field", "code"),
    [
        ({"mapping": {"Nope": "name"}}, "mapping", "unknown_column"),
        ({"mapping": {"email": "email"}}, "mapping", "required"),
        ({"mapping": {"name": "salary"}}, "mapping", "invalid"),
        ({"mapping": {"name": "name", "email": "name"}}, "mapping", "invalid"),
        ({"record_type": "invoice"}, "record_type", "invalid"),
        ({"duplicate_policy": "merge"}, "duplicate_policy", "invalid"),
        ({"owner": 999999}, "owner", "unknown_member"),
        ({"owner": "me"}, "owner", "invalid"),
        ({"tags": ["x" * 51]}, "tags[0]", "invalid"),
        ({"dry_run": "perhaps"}, "dry_run", "invalid"),
        ({"delimiter": "#"}, "delimiter", "invalid"),
        ({"encoding": "ebcdic"}, "encoding", "invalid"),
        ({"colour": "blue"}, "colour", "invalid"),
    ],
)
def test_bad_options_are_400_naming_the_field(client, options, field, code):
    response = upload(client, GOOD, **options)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    if code != "invalid":
        assert response.json()["code"] == code


def test_options_that_are_not_json_and_a_missing_file_are_400(client):
    response = client.post(
        "/api/imports/",
        {"file": SimpleUploadedFile("a.csv", GOOD.encode()), "options": "{not json"},
        format="multipart",
    )
    assert list(response.json()["errors"]) == ["options"]
    response = client.post("/api/imports/", {"options": '{"record_type": "lead"}'}, format="multipart")
    assert (response.status_code, list(response.json()["errors"])) == (400, ["file"])
    response = client.post("/api/imports/?record_type=lead&mapping=[", data=b"x", content_type="text/csv")
    assert list(response.json()["errors"]) == ["mapping"]


def test_json_bodies_are_415(client):
    assert client.post("/api/imports/", {"record_type": "lead"}, format="json").status_code == 415


@pytest.mark.parametrize("role", [Role.REP, Role.VIEWER])
def test_imports_are_for_managers_and_admins(api, role):
    client = api(role)
    assert upload(client, GOOD).status_code == 403
    assert client.get("/api/imports/").status_code == 403


def test_unknown_import_ids_are_404(client):
    for path in ("", "errors.csv"):
        assert client.get(f"/api/imports/424242/{path}").status_code == 404
    for path in ("cancel/", "revert/"):
        assert client.post(f"/api/imports/424242/{path}").status_code == 404


def test_the_upload_is_stored_in_chunks_and_the_request_cost_does_not_grow_with_rows(client, org):
    from django.db import connection

    small = GOOD
    big = "name,email\n" + "".join(f"Lead {i},lead{i}@example.com\n" for i in range(60_000))
    counts = []
    for body in (small, big):
        with CaptureQueriesContext(connection) as queries:
            assert upload(client, body).status_code == 202
        counts.append(len(queries))
    # one INSERT per MiB of file, nothing per row
    assert counts[1] - counts[0] <= 2, counts
