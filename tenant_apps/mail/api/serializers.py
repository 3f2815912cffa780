from __future__ import annotations

from rest_framework import serializers

from tenant_apps.records.api.serializers import StrictSerializer


class EmailSettingsSerializer(serializers.Serializer):
    inbound_address = serializers.EmailField(
        help_text="The organization's dropbox: BCC or forward email here to put it on the timelines."
    )
    create_leads_from_unknown = serializers.BooleanField(
        help_text="A message to the dropbox from an address no lead or contact has creates a lead."
    )
    max_message_bytes = serializers.IntegerField(help_text="Larger messages are refused (SMTP 552).")
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.IntegerField(source="updated_by_id", allow_null=True)


class EmailSettingsUpdateSerializer(StrictSerializer):
    create_leads_from_unknown = serializers.BooleanField(required=False)
