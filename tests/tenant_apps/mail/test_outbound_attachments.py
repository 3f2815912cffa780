"""Files sent with a member's email (POST .../emails/send/ as multipart, or the lead page's form): MIME parts
of what the real SMTP sink receives, attachments of the timeline activity downloaded at /api/attachments/<id>/
by exactly the members who may see the record; limits answered with a 400 naming `attachments`."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.mail.models import Attachment
from tests.conftest import client_for
from tests.tenant_apps.web.conftest import signed_in

PDF = b"%PDF-1.4 the quote\n%%EOF\n"
CSV = b"name,amount\nWidgets,1200\n"


@pytest.fixture
def rep(member):
    return member(role=Role.REP, email="rita@acme.test")


@pytest.fixture
def jane(make_lead, rep):
    return make_lead(name="Jane Doe", email="jane@customer.test", owner_id=rep.pk)


def files(*items):
    return [SimpleUploadedFile(name, data, content_type=content_type) for name, content_type, data in items]


def send(org, user, lead, **extra):
    body = {"subject": "The quote", "body": "Attached.", **extra}
    return client_for(org, user).post(f"/api/leads/{lead.pk}/emails/send/", body, format="multipart")


def test_files_go_as_mime_parts_and_are_kept_on_the_timeline(org, smtp, rep, jane, member):
    response = send(
        org,
        rep,
        jane,
        attachments=files(("quote.pdf", "application/pdf", PDF), ("../../figures.csv", "text/csv", CSV)),
        cc=["boss@customer.test"],
    )
    assert response.status_code == 201, response.content
    [received] = smtp.messages
    assert received.recipients == ["jane@customer.test", "boss@customer.test"]
    assert received.body == "Attached."
    parts = {part.get_filename(): part for part in received.message.iter_attachments()}
    assert set(parts) == {"quote.pdf", "figures.csv"}  # never a path
    assert parts["quote.pdf"].get_content_type() == "application/pdf"
    assert parts["quote.pdf"].get_payload(decode=True) == PDF
    assert parts["figures.csv"].get_payload(decode=True).replace(b"\r\n", b"\n") == CSV
    metadata = response.json()["metadata"]["attachments"]
    assert [(item["name"], item["size"]) for item in metadata] == [
        ("quote.pdf", len(PDF)),
        ("figures.csv", len(CSV)),
    ]
    with schema_context(org.schema_name):
        activity = Activity.objects.get(lead=jane, type=ActivityType.EMAIL)
        kept = list(Attachment.objects.filter(activity=activity).order_by("pk"))
    assert [item.pk for item in kept] == [item["id"] for item in metadata]
    # downloaded by the rep who sent it and by a manager, as the inbound ones are
    for user in (rep, member(role=Role.MANAGER)):
        download = client_for(org, user).get(f"/api/attachments/{kept[0].pk}/")
        assert download.status_code == 200 and download.content == PDF
        assert "quote.pdf" in download["Content-Disposition"]


def test_a_member_who_may_not_see_the_record_cannot_download(org, other_org, smtp, rep, jane, member):
    response = send(org, rep, jane, attachments=files(("quote.pdf", "application/pdf", PDF)))
    assert response.status_code == 201, response.content
    attachment_id = response.json()["metadata"]["attachments"][0]["id"]
    another_rep = member(role=Role.REP)
    hidden = client_for(org, another_rep).get(f"/api/attachments/{attachment_id}/")
    assert hidden.status_code == 404 and PDF not in hidden.content
    foreign = client_for(other_org, member(role=Role.ADMIN, organization=other_org))
    assert foreign.get(f"/api/attachments/{attachment_id}/").status_code == 404


def test_limits_are_a_400_naming_attachments_and_nothing_is_sent(org, smtp, rep, jane, settings):
    settings.MAIL_SEND_MAX_ATTACHMENTS = 2
    settings.MAIL_SEND_MAX_ATTACHMENT_BYTES = 1000
    many = send(org, rep, jane, attachments=files(*[(f"f{i}.txt", "text/plain", b"x") for i in range(3)]))
    assert many.status_code == 400 and "attachments" in many.json()["errors"], many.content
    assert many.json()["code"] == "too_many"
    large = send(
        org,
        rep,
        jane,
        attachments=files(
            ("a.bin", "application/octet-stream", b"a" * 600), ("b.bin", "image/png", b"b" * 600)
        ),
    )
    assert large.status_code == 400 and "attachments" in large.json()["errors"], large.content
    assert large.json()["code"] == "too_large"
    empty = send(org, rep, jane, attachments=files(("empty.txt", "text/plain", b"")))
    assert empty.status_code == 400 and list(empty.json()["errors"]) == ["attachments[0]"]
    not_files = client_for(org, rep).post(
        f"/api/leads/{jane.pk}/emails/send/",
        {"subject": "S", "body": "B", "attachments": ["not a file"]},
        format="json",
    )
    assert not_files.status_code == 400 and list(not_files.json()["errors"]) == ["attachments[0]"]
    assert smtp.messages == []
    with schema_context(org.schema_name):
        assert not Activity.objects.filter(lead=jane, type=ActivityType.EMAIL).exists()
        assert not Attachment.objects.exists()


def test_a_content_type_that_is_not_one_is_sent_as_bytes(org, smtp, rep, jane):
    response = send(org, rep, jane, attachments=files(("x.dat", "definitely not a type", b"\x00\x01")))
    assert response.status_code == 201, response.content
    [part] = list(smtp.messages[0].message.iter_attachments())
    assert part.get_content_type() == "application/octet-stream"
    assert response.json()["metadata"]["attachments"][0]["content_type"] == "application/octet-stream"


def test_the_contact_api_sends_files_too(org, smtp, rep):
    from tenant_apps.contacts.services import contact_create

    with schema_context(org.schema_name):
        contact = contact_create(actor=rep, name="Carl Contact", email="carl@customer.test")
    response = client_for(org, rep).post(
        f"/api/contacts/{contact.pk}/emails/send/",
        {"subject": "S", "body": "B", "attachments": files(("a.pdf", "application/pdf", PDF))},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert [p.get_filename() for p in smtp.messages[0].message.iter_attachments()] == ["a.pdf"]


def test_the_lead_page_form_sends_files(org, smtp, rep, jane):
    client = signed_in(org, rep)
    page = client.get(f"/leads/{jane.pk}/").content.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="attachments"' in page
    response = client.post(
        f"/leads/{jane.pk}/emails/send/",
        {
            "subject": "Quote",
            "body": "Attached.",
            "attachments": files(("quote.pdf", "application/pdf", PDF)),
        },
    )
    assert response.status_code == 302
    [received] = smtp.messages
    assert [part.get_filename() for part in received.message.iter_attachments()] == ["quote.pdf"]
    timeline = client.get(f"/leads/{jane.pk}/").content.decode()
    with schema_context(org.schema_name):
        attachment = Attachment.objects.get(activity__lead=jane)
    assert f'href="/api/attachments/{attachment.pk}/"' in timeline
