from __future__ import annotations

from typing import Any

from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from tenant_apps.sequences.models import (
    MAX_DELAY_DAYS,
    MAX_STEPS,
    Enrollment,
    EnrollmentStatus,
    SentStep,
    Sequence,
    SequenceStep,
)
from tenant_apps.sequences.templating import VARIABLES

MAX_ID = 2**63 - 1
TEMPLATE_HELP = "Django template syntax; variables: " + ", ".join(
    f"{{{{ {root}.{field} }}}}" for root, fields in VARIABLES.items() for field in fields
)


class _RefuseUnknown(serializers.Serializer):
    """A misspelled field silently ignored would look like a saved change: refuse it."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class SequenceMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


class SequenceStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = SequenceStep
        fields = ["position", "subject", "body", "delay_days", "delay_hours"]
        read_only_fields = fields


class SequenceSerializer(serializers.ModelSerializer):
    steps = SequenceStepSerializer(many=True)
    active_enrollments = serializers.IntegerField(help_text="Leads currently going through the sequence.")
    created_by = SequenceMemberSerializer(allow_null=True)

    class Meta:
        model = Sequence
        fields = [
            "id",
            "name",
            "description",
            "steps",
            "active_enrollments",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SequenceStepInputSerializer(_RefuseUnknown):
    subject = StrictCharField(max_length=300, help_text=TEMPLATE_HELP)
    body = StrictCharField(max_length=20_000, trim_whitespace=False, help_text=TEMPLATE_HELP)
    delay_days = serializers.IntegerField(min_value=0, max_value=MAX_DELAY_DAYS, required=False, default=0)
    delay_hours = serializers.IntegerField(min_value=0, max_value=23, required=False, default=0)


class SequenceWriteSerializer(_RefuseUnknown):
    """Typing of the input; the rules (templates compile, bounds) live in the service."""

    name = StrictCharField(max_length=200)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    steps = serializers.ListField(
        child=SequenceStepInputSerializer(),
        max_length=MAX_STEPS,
        required=False,
        help_text="In order; each is sent its delay after the previous one (the first: after enrollment). "
        "On update the whole list is replaced.",
    )

    def to_service(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        if "steps" in data:
            data["steps"] = [dict(step) for step in data["steps"]]
        return data


class SequenceUpdateSerializer(SequenceWriteSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class EnrollSerializer(_RefuseUnknown):
    lead = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="The lead's id.")


class EnrollmentLeadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField()


class EnrollmentSentStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = SentStep
        fields = ["position", "subject", "message_id", "status", "reserved_at", "sent_at", "activity"]
        read_only_fields = fields


class EnrollmentSerializer(serializers.ModelSerializer):
    sequence = serializers.IntegerField(source="sequence_id")
    lead = EnrollmentLeadSerializer()
    enrolled_by = SequenceMemberSerializer(allow_null=True)
    sent_steps = EnrollmentSentStepSerializer(many=True)

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "sequence",
            "lead",
            "status",
            "stop_reason",
            "stop_details",
            "next_position",
            "next_send_at",
            "last_sent_at",
            "enrolled_by",
            "enrolled_at",
            "finished_at",
            "sent_steps",
        ]
        read_only_fields = fields


class EnrollmentFilterSerializer(serializers.Serializer):
    status = serializers.CharField(
        required=False, help_text=f"comma-separated: {', '.join(EnrollmentStatus.values)}"
    )
    lead = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)

    def validate_status(self, value: str) -> list[str]:
        values = [item.strip().lower() for item in value.split(",") if item.strip()]
        unknown = [item for item in values if item not in EnrollmentStatus.values]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown: {', '.join(unknown)}; expected {', '.join(EnrollmentStatus.values)}."
            )
        return values
