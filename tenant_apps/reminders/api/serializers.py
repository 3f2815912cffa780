from __future__ import annotations

from typing import Any

from rest_framework import serializers

from tenant_apps.reminders.models import MAX_IDLE_DAYS


class FollowUpSettingsSerializer(serializers.Serializer):
    idle_days = serializers.IntegerField(
        help_text="A lead not contacted for this many days gets a follow-up task."
    )
    enabled = serializers.BooleanField()
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.IntegerField(source="updated_by_id", allow_null=True)


class FollowUpSettingsUpdateSerializer(serializers.Serializer):
    idle_days = serializers.IntegerField(min_value=1, max_value=MAX_IDLE_DAYS, required=False)
    enabled = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = (
            sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        )
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs
