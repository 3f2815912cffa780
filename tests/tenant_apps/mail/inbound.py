"""The inbound receiver for the tests: the real aiosmtpd controller of shared_apps.mailroute on a free port,
spoken to with smtplib, and helpers to build messages and run the jobs it enqueues."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from shared_apps.mailroute.addresses import dropbox_address
from shared_apps.mailroute.server import controller
from shared_apps.organizations import placement
from shared_apps.organizations.models import Organization
from tests.conftest import InThread


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Receiver:
    port: int
    dropboxes: dict[str, str]  # organization slug -> its dropbox address (committed: the server reads it)

    def client(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=30)

    def send(self, message: EmailMessage | bytes, to: list[str], sender: str = "someone@example.test") -> Any:
        """sendmail(); returns what it returns (refused recipients) or raises what it raises."""
        raw = message if isinstance(message, bytes) else message.as_bytes(policy=policy.SMTP)
        with self.client() as client:
            return client.sendmail(sender, to, raw)


@pytest.fixture(scope="session")
def receiver(django_db_setup: None, django_db_blocker: Any) -> Iterator[Receiver]:
    """The receiver, running for the session. The organizations' dropboxes are made (and committed) first:
    the receiver's own thread and connection decide RCPT TO from committed rows only."""

    def make() -> dict[str, str]:
        return {
            organization.slug: dropbox_address(organization)
            for organization in Organization.objects.filter(slug__in=("acme", "globex"))
        }

    with django_db_blocker.unblock():
        dropboxes = InThread(make).join()
    port = _free_port()
    server = controller(host="127.0.0.1", port=port)
    server.start()
    try:
        yield Receiver(port=port, dropboxes=dropboxes)
    finally:
        # the connections the handler opened live in asgiref's sync thread: close them there
        asyncio.run_coroutine_threadsafe(sync_to_async(placement.close_all)(), server.loop).result(10)
        server.stop()


def email(
    *,
    sender: str = "Jane Doe <jane@customer.test>",
    to: str = "rep@acme.test",
    cc: str = "",
    subject: str = "Hello",
    body: str = "Hi there.",
    html: str = "",
    message_id: str | None = "<m1@customer.test>",
    in_reply_to: str = "",
    references: str = "",
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    if message_id:
        message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    for name, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def process_raw(organization: Organization, raw: bytes) -> Any:
    """What the receiver and the job do, without SMTP: store `raw` for the organization and process it in
    its schema (in the caller's transaction); returns the InboundMessage."""
    from django.core.files.base import ContentFile
    from django_tenants.utils import schema_context

    from shared_apps.mailroute.receiver import raw_name
    from tenant_apps.mail.models import mail_storage
    from tenant_apps.mail.services import inbound_message_process

    name = mail_storage().save(raw_name(int(organization.pk)), ContentFile(raw))
    with schema_context(organization.schema_name):
        return inbound_message_process(raw_name=name, routes=[{"kind": "dropbox", "reference": None}])


def attachment_for(records: Any) -> int:
    """For the route-walking suites (tests.isolation.support.Records and its subclasses): an attachment of
    an email received from a new lead of `records` (owned as that class makes its leads)."""
    from django_tenants.utils import schema_context

    from tenant_apps.leads.models import Lead
    from tenant_apps.mail.models import Attachment

    lead_id = records.lead()
    records._apart(Attachment)
    with schema_context(records.organization.schema_name):
        address = Lead.objects.get(pk=lead_id).email
    message = email(
        sender=f"Lead <{address}>",
        message_id=f"<file-{lead_id}-{records.organization.slug}@leads.test>",
        attachments=[("file.pdf", "application/pdf", b"%PDF-1.4\n")],
    )
    process_raw(records.organization, message.as_bytes(policy=policy.SMTP))
    with schema_context(records.organization.schema_name):
        attachment_id = int(Attachment.objects.get(activity__lead_id=lead_id).pk)
    return int(records._check(Attachment, attachment_id))
