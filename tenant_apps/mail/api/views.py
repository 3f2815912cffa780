from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.core.errors import Forbidden
from shared_apps.http.api import OrganizationView, error_responses, parse
from shared_apps.http.renderers import JSONRenderer
from shared_apps.users.models import Role
from tenant_apps.mail import selectors, services
from tenant_apps.mail.api.serializers import (
    EmailSettingsSerializer,
    EmailSettingsUpdateSerializer,
    SmtpTestResultSerializer,
    SmtpTestSerializer,
)
from tenant_apps.mail.exceptions import AttachmentNotFound
from tenant_apps.mail.models import MailSettings

ERRORS = error_responses(400, 401, 403)
# Types a browser would run or render as a page of our origin: served as bytes to download instead.
ACTIVE_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml")


def _settings_data(row: MailSettings) -> dict[str, Any]:
    return {
        "inbound_address": selectors.inbound_address(),
        "create_leads_from_unknown": row.create_leads_from_unknown,
        "max_message_bytes": settings.INBOUND_MAX_BYTES,
        "smtp_enabled": row.smtp_enabled,
        "smtp_host": row.smtp_host,
        "smtp_port": row.smtp_port,
        "smtp_security": row.smtp_security,
        "smtp_username": row.smtp_username,
        "smtp_password_set": bool(row.smtp_password_secret),
        "smtp_from_domains": list(row.smtp_from_domains or []),
        "smtp_from_address": row.smtp_from_address,
        "updated_at": row.updated_at,
        "updated_by_id": row.updated_by_id,
    }


class EmailSettingsView(OrganizationView):
    resource = "email"

    @extend_schema(responses={200: EmailSettingsSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        """The organization's inbound address and email settings (every member reads them)."""
        return Response(EmailSettingsSerializer(_settings_data(selectors.mail_settings_get())).data)

    @extend_schema(request=EmailSettingsUpdateSerializer, responses={200: EmailSettingsSerializer, **ERRORS})
    def patch(self, request: Request) -> Response:
        """Admins only (403 otherwise)."""
        if self.member.role != Role.ADMIN:  # before parsing: a non-admin learns nothing about the input
            raise Forbidden("Only an admin can change the email settings.")
        changes = parse(EmailSettingsUpdateSerializer, request.data)
        row = services.mail_settings_update(actor=self.member, changes=changes)
        return Response(EmailSettingsSerializer(_settings_data(row)).data)


class EmailSettingsSmtpTestView(OrganizationView):
    resource = "email"

    @extend_schema(
        request=SmtpTestSerializer,
        responses={200: SmtpTestResultSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        """Admins: send a test message through the organization's saved SMTP configuration (enabled or
        not) to `to` or your own address. A failure is a 400 whose `code` names the step (smtp_auth_failed,
        smtp_tls_failed, smtp_not_supported, smtp_connect_failed, smtp_timeout, smtp_recipient_refused,
        smtp_sender_refused, smtp_refused, smtp_host_private, ...) and whose message quotes the server."""
        if self.member.role != Role.ADMIN:
            raise Forbidden("Only an admin can test the email settings.")
        data = parse(SmtpTestSerializer, request.data)
        result = services.mail_smtp_test(actor=self.member, to=data.get("to", ""))
        return Response(SmtpTestResultSerializer({"sent": True, **result}).data)


class AnyFileRenderer(BaseRenderer):
    """Lets clients ask for the file's own type; the bytes are answered by the view (errors stay JSON)."""

    media_type = "*/*"
    format = "file"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return JSONRenderer().render(data, "application/json", renderer_context)


class AttachmentDownloadView(OrganizationView):
    resource = "attachments"
    renderer_classes = [JSONRenderer, AnyFileRenderer]

    @extend_schema(
        responses={
            200: OpenApiResponse(OpenApiTypes.BINARY, description="The file"),
            **error_responses(401, 403, 404),
        }
    )
    def get(self, request: Request, attachment_id: int) -> HttpResponse:
        """An email attachment, for members who may see the email's record (404 otherwise)."""
        attachment = selectors.attachment_get(actor=self.member, attachment_id=attachment_id)
        try:
            with attachment.file.storage.open(str(attachment.file.name), "rb") as handle:
                content = handle.read()
        except FileNotFoundError:
            raise AttachmentNotFound(id=attachment_id) from None
        content_type = attachment.content_type or "application/octet-stream"
        if content_type.lower() in ACTIVE_TYPES or content_type.lower().startswith("text/html"):
            content_type = "application/octet-stream"
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = content_disposition_header(True, attachment.name)
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
        response["Cache-Control"] = "private, no-store"
        return response
