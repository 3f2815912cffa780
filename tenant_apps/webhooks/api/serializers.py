from __future__ import annotations

from typing import Any

from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from tenant_apps.webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, Endpoint


class EndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = Endpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "disabled_at",
            "disabled_reason",
            "last_success_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.SerializerMethodField(
        help_text="Shown this once: keep it to verify X-LeadPulse-Signature."
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, endpoint: Endpoint) -> str:
        return str(self.context["secret"])


class _RefuseUnknown(serializers.Serializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A misspelled field silently ignored would look like a saved change: refuse it.
        unknown = (
            sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        )
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs


class EndpointWriteSerializer(_RefuseUnknown):
    """Typing of the input; the rules (URL guard, known event types, secret strength) live in the service."""

    url = StrictCharField(max_length=2000, trim_whitespace=False)
    event_types = serializers.ListField(
        child=StrictCharField(max_length=64),
        min_length=1,
        max_length=50,
        help_text='Event types such as "lead.created", namespace wildcards such as "lead.*", or "*".',
    )
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    secret = StrictCharField(
        min_length=16,
        max_length=200,
        required=False,
        trim_whitespace=False,
        help_text="Generated (and returned once) when not given.",
    )


class EndpointUpdateSerializer(EndpointWriteSerializer):
    is_active = serializers.BooleanField(required=False, help_text="false pauses deliveries, true resumes.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "started_at",
            "finished_at",
            "outcome",
            "status_code",
            "latency_ms",
            "response_excerpt",
            "error",
        ]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.id", read_only=True)
    event_type = serializers.CharField(source="event.topic", read_only=True)
    payload = serializers.JSONField(source="event.payload", read_only=True)
    log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "last_status_code",
            "last_error",
            "created_at",
            "payload",
            "log",
        ]
        read_only_fields = fields


class DeliveryFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    event_type = serializers.CharField(required=False, max_length=64)


class EventTypesSerializer(serializers.Serializer):
    event_types = serializers.ListField(child=serializers.CharField())
    wildcards = serializers.ListField(child=serializers.CharField())
