from __future__ import annotations

from rest_framework import serializers

from tenant_apps.mail.models import SmtpSecurity
from tenant_apps.records.api.serializers import StrictSerializer


class EmailSettingsSerializer(serializers.Serializer):
    inbound_address = serializers.EmailField(
        help_text="The organization's dropbox: BCC or forward email here to put it on the timelines."
    )
    create_leads_from_unknown = serializers.BooleanField(
        help_text="A message to the dropbox from an address no lead or contact has creates a lead."
    )
    max_message_bytes = serializers.IntegerField(help_text="Larger messages are refused (SMTP 552).")
    smtp_enabled = serializers.BooleanField(
        help_text="Members' emails and sequence steps go through the organization's SMTP server."
    )
    smtp_host = serializers.CharField()
    smtp_port = serializers.IntegerField()
    smtp_security = serializers.ChoiceField(choices=SmtpSecurity.choices)
    smtp_username = serializers.CharField()
    smtp_password_set = serializers.BooleanField(
        help_text="Whether a password is stored (it is never shown)."
    )
    smtp_from_domains = serializers.ListField(child=serializers.CharField())
    smtp_from_address = serializers.CharField(
        help_text="The From of members whose own address is not on one of smtp_from_domains."
    )
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.IntegerField(source="updated_by_id", allow_null=True)


class EmailSettingsUpdateSerializer(StrictSerializer):
    create_leads_from_unknown = serializers.BooleanField(required=False)
    smtp_enabled = serializers.BooleanField(required=False)
    smtp_host = serializers.CharField(max_length=253, required=False, allow_blank=True)
    smtp_port = serializers.IntegerField(min_value=1, max_value=65535, required=False)
    smtp_security = serializers.ChoiceField(choices=SmtpSecurity.choices, required=False)
    smtp_username = serializers.CharField(max_length=254, required=False, allow_blank=True)
    smtp_password = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
        help_text="Write-only, sealed at rest; an empty string removes it.",
    )
    smtp_from_domains = serializers.ListField(
        child=serializers.CharField(max_length=253), required=False, max_length=20
    )
    smtp_from_address = serializers.CharField(max_length=254, required=False, allow_blank=True)


class SmtpTestSerializer(StrictSerializer):
    to = serializers.EmailField(required=False, help_text="Default: your own address.")


class SmtpTestResultSerializer(serializers.Serializer):
    sent = serializers.BooleanField()
    to = serializers.EmailField()
    host = serializers.CharField()
