from __future__ import annotations

from rest_framework import serializers

from tenant_apps.activities.models import LOGGABLE_TYPES, Activity, ActivityType


class ActorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


class ActivitySerializer(serializers.ModelSerializer):
    actor = ActorSerializer(allow_null=True)

    class Meta:
        model = Activity
        fields = [
            "id",
            "lead",
            "type",
            "subject",
            "body",
            "metadata",
            "actor",
            "occurred_at",
            "created_at",
            "message_id",
            "thread_id",
        ]
        read_only_fields = fields


class ActivityLogSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[(t, ActivityType(t).label) for t in LOGGABLE_TYPES])
    subject = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    body = serializers.CharField(
        max_length=100_000, required=False, allow_blank=True, default="", trim_whitespace=False
    )
    metadata = serializers.JSONField(required=False, default=dict)
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ActivityFilterSerializer(serializers.Serializer):
    type = serializers.CharField(
        required=False, help_text=f"comma-separated: {', '.join(ActivityType.values)}"
    )

    def validate_type(self, value: str) -> list[str]:
        types = [item.strip().upper() for item in value.split(",") if item.strip()]
        unknown = [item for item in types if item not in ActivityType.values]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown: {', '.join(unknown)}; expected {', '.join(ActivityType.values)}."
            )
        return types


class EmailSerializer(serializers.Serializer):
    """Either `raw` (an RFC 5322 message) or the parsed fields."""

    raw = serializers.CharField(required=False, trim_whitespace=False, max_length=2_000_000)
    message_id = serializers.CharField(required=False, allow_blank=True, max_length=300)
    in_reply_to = serializers.CharField(required=False, allow_blank=True, max_length=300)
    references = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, max_length=100
    )
    subject = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    body = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=1_000_000
    )
    date = serializers.CharField(required=False, allow_blank=True, max_length=100)
    to = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    cc = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    def get_fields(self):  # type: ignore[no-untyped-def]
        fields = super().get_fields()
        # "from" is a Python keyword: declare it here
        fields["from"] = serializers.CharField(required=False, allow_blank=True, max_length=1000)
        return fields

    def validate(self, attrs: dict) -> dict:
        if "raw" not in attrs and not attrs.get("from"):
            raise serializers.ValidationError({"raw": ["Send a raw message, or at least the parsed 'from'."]})
        return attrs


class EmailThreadSerializer(serializers.Serializer):
    thread_id = serializers.CharField()
    subject = serializers.CharField()
    count = serializers.IntegerField()
    last_message_at = serializers.DateTimeField()
    messages = ActivitySerializer(many=True)
