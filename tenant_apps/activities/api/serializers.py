from __future__ import annotations

from rest_framework import serializers

from tenant_apps.records.api.serializers import (  # shared by every record's timeline: in the records core
    ActivityFilterSerializer,
    ActivityLogSerializer,
    ActivitySerializer,
    ActorSerializer,
)

__all__ = [
    "ActivityFilterSerializer",
    "ActivityLogSerializer",
    "ActivitySerializer",
    "ActorSerializer",
    "EmailSerializer",
    "EmailThreadSerializer",
]


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
