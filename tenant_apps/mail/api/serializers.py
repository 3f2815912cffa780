from __future__ import annotations

from typing import Any

from rest_framework import serializers


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


class EmailSettingsUpdateSerializer(serializers.Serializer):
    create_leads_from_unknown = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = (
            sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        )
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs
