from __future__ import annotations

from rest_framework import serializers

from tenant_apps.customfields.models import CustomField, FieldKind, IndexState, RecordType
from tenant_apps.records.api.serializers import StrictSerializer


class OptionSerializer(serializers.Serializer):
    id = serializers.CharField(required=False, help_text="omit for a new option; keep to relabel one")
    label = serializers.CharField(max_length=100)  # type: ignore[assignment]


class CustomFieldSerializer(serializers.ModelSerializer):
    options = OptionSerializer(many=True)
    index_state = serializers.ChoiceField(
        choices=IndexState.choices,
        help_text="filterable fields: building until the index in this organization's schema is ready",
    )

    class Meta:
        model = CustomField
        fields = [
            "id",
            "record_type",
            "key",
            "label",
            "type",
            "required",
            "options",
            "position",
            "filterable",
            "on_card",
            "index_state",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CustomFieldWriteSerializer(StrictSerializer):
    """Typing only; the rules live in the service (tenant_apps.customfields.services)."""

    record_type = serializers.ChoiceField(choices=RecordType.choices)
    key = serializers.CharField(max_length=50, help_text="a-z, 0-9 and _, starting with a letter; fixed")
    label = serializers.CharField(max_length=100)  # type: ignore[assignment]
    type = serializers.ChoiceField(choices=FieldKind.choices)
    required = serializers.BooleanField(required=False)  # type: ignore[assignment]
    options = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        help_text='selects: [{"id"?, "label"}] in order (a bare label is a new option); omit an id for a new '
        "option, keep it to relabel one",
    )
    position = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    filterable = serializers.BooleanField(required=False)
    on_card = serializers.BooleanField(
        required=False, help_text="lead fields: shown on the lead board's cards (the first 3 by position)"
    )


class CustomFieldUpdateSerializer(StrictSerializer):
    key = serializers.CharField(required=False, help_text="Refused: a field's key never changes.")
    record_type = serializers.CharField(required=False, help_text="Refused: never changes.")
    label = serializers.CharField(max_length=100, required=False)  # type: ignore[assignment]
    type = serializers.ChoiceField(choices=FieldKind.choices, required=False)
    required = serializers.BooleanField(required=False)  # type: ignore[assignment]
    options = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        help_text='selects: [{"id"?, "label"}] in order (a bare label is a new option); omit an id for a new '
        "option, keep it to relabel one",
    )
    position = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    filterable = serializers.BooleanField(required=False)
    on_card = serializers.BooleanField(
        required=False, help_text="lead fields: shown on the lead board's cards (the first 3 by position)"
    )
    migrate_to = serializers.DictField(
        child=serializers.CharField(allow_null=True),
        required=False,
        help_text="{removed option id: kept option id, or null to clear}: where values of removed options go",
    )


class CustomFieldFilterSerializer(serializers.Serializer):
    record_type = serializers.ChoiceField(choices=RecordType.choices, required=False)
