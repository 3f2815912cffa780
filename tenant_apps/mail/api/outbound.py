"""POST /api/leads/<id>/emails/send/ and /api/contacts/<id>/emails/send/: a member sends an email from the
record's page (tenant_apps.mail.outbound.email_send)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.core.errors import Forbidden
from shared_apps.core.parsers import SafeJSONParser
from shared_apps.http.api import OrganizationView, error_responses, parse
from tenant_apps.contacts.selectors import contact_get
from tenant_apps.leads.exceptions import LeadNotFound
from tenant_apps.leads.selectors import lead_for_write
from tenant_apps.mail.outbound import MAX_BODY, MAX_CC, email_send
from tenant_apps.records import visibility
from tenant_apps.records.api.serializers import StrictSerializer
from tenant_apps.records.api.views import LeadView

ERRORS = error_responses(400, 401, 403, 404, 502)


class EmailSendSerializer(StrictSerializer):
    subject = serializers.CharField(max_length=300)
    body = serializers.CharField(max_length=MAX_BODY, trim_whitespace=False)
    to = serializers.CharField(
        max_length=254, required=False, allow_blank=True, help_text="Default: the record's email."
    )
    cc = serializers.ListField(child=serializers.CharField(max_length=254), required=False, max_length=MAX_CC)
    in_reply_to = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        help_text="The email this answers: an EMAIL activity id of the record, or its Message-ID.",
    )
    attachments = serializers.ListField(
        child=serializers.FileField(max_length=255),
        required=False,
        help_text="Files (multipart/form-data, the field repeated): at most MAIL_SEND_MAX_ATTACHMENTS, "
        "MAIL_SEND_MAX_ATTACHMENT_BYTES together (400 naming `attachments` otherwise).",
    )


class SentEmailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField()
    message_id = serializers.CharField()
    thread_id = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    metadata = serializers.DictField()


class LeadEmailSendView(LeadView):
    resource = "outbound-email"
    parser_classes = [SafeJSONParser, MultiPartParser]
    reads_lead_once = True

    @extend_schema(request=EmailSendSerializer, responses={201: SentEmailSerializer, **ERRORS})
    def post(self, request: Request, lead_id: int) -> Response:
        """Send an email to the lead (members who may change it: reps their own); recorded on its timeline.
        400 naming `to`/`cc` for an address on the do-not-contact list or bouncing; 502 when the mail
        server refuses it (nothing recorded)."""
        lead = lead_for_write(actor=self.member, lead_id=lead_id)
        if lead.deleted_at is not None or lead.merged_into_id is not None:
            raise LeadNotFound(id=lead_id)
        data = parse(EmailSendSerializer, request.data)
        activity = email_send(actor=self.member, record=lead, **data)
        return Response(SentEmailSerializer(activity).data, status=status.HTTP_201_CREATED)


class ContactEmailSendView(OrganizationView):
    resource = "outbound-email"
    parser_classes = [SafeJSONParser, MultiPartParser]

    @extend_schema(request=EmailSendSerializer, responses={201: SentEmailSerializer, **ERRORS})
    def post(self, request: Request, contact_id: int) -> Response:
        """Send an email to the contact; recorded on its timeline (as for leads)."""
        contact = contact_get(contact_id=contact_id)
        if not visibility.can_change(self.member, contact):
            raise Forbidden("You may not change this contact.")
        data = parse(EmailSendSerializer, request.data)
        activity = email_send(actor=self.member, record=contact, **data)
        return Response(SentEmailSerializer(activity).data, status=status.HTTP_201_CREATED)
