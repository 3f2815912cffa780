from __future__ import annotations

from typing import Any

from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from tenant_apps.opportunities.models import Opportunity, OpportunityStage
from tenant_apps.records.api.serializers import (
    CustomValuesField,
    CustomValuesInput,
    IdField,
    OwnerSerializer,
    RefSerializer,
    StrictSerializer,
)


class StageRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField(help_text="the stage's current name")
    is_won = serializers.BooleanField()
    is_lost = serializers.BooleanField()


class PipelineRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class OpportunitySerializer(serializers.ModelSerializer):
    custom = CustomValuesField("opportunity")
    pipeline = PipelineRefSerializer()
    pipeline_stage = StageRefSerializer(help_text="the stage (`stage` repeats its immutable key)")
    lost_reason = RefSerializer(allow_null=True)
    account = RefSerializer()
    primary_contact = RefSerializer(allow_null=True)
    owner = OwnerSerializer(allow_null=True)
    is_closed = serializers.BooleanField(read_only=True)
    weighted_amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        read_only=True,
        help_text="amount x probability, in the deal's currency",
    )

    class Meta:
        model = Opportunity
        fields = [
            "id",
            "name",
            "account",
            "primary_contact",
            "amount",
            "currency",
            "pipeline",
            "pipeline_stage",
            "stage",
            "probability",
            "weighted_amount",
            "expected_close_date",
            "is_closed",
            "closed_at",
            "close_reason",
            "lost_reason",
            "source_lead",
            "owner",
            "tags",
            "created_at",
            "updated_at",
            "deleted_at",
            "custom",
        ]
        read_only_fields = fields


class OpportunityWriteSerializer(StrictSerializer):
    id_fields = ("owner", "account", "primary_contact")

    name = StrictCharField(max_length=200)
    account = IdField(help_text="a live account's id")
    primary_contact = IdField(
        required=False, allow_null=True, help_text="a contact of the account (or of none)"
    )
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    currency = StrictCharField(max_length=3, required=False)
    probability = serializers.IntegerField(
        required=False, min_value=0, max_value=100, help_text="the stage's default unless given"
    )
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    owner = IdField(required=False, allow_null=True)
    tags = serializers.ListField(child=StrictCharField(max_length=50), max_length=20, required=False)
    custom = CustomValuesInput("opportunity")


class OpportunityCreateSerializer(OpportunityWriteSerializer):
    pipeline = IdField(required=False, help_text="a pipeline's id (the default pipeline unless given)")
    stage = StrictCharField(
        max_length=64,
        required=False,
        help_text="an open stage of the pipeline, by id or key (its first open stage by default; the old "
        f"values {', '.join(OpportunityStage.values[:4])} name the default pipeline's); close through the "
        "stage endpoint",
    )

    def to_internal_value(self, data: Any) -> Any:
        stage = data.get("stage") if isinstance(data, dict) else None
        if isinstance(stage, int) and not isinstance(stage, bool):
            data = {**data, "stage": str(data["stage"])}
        return super().to_internal_value(data)


class OpportunityUpdateSerializer(OpportunityWriteSerializer):
    stage = serializers.CharField(required=False, help_text="Refused: use the stage endpoint.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class HistoryStageSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    key = serializers.CharField(allow_null=True)
    name = serializers.CharField(help_text="the stage's current name (the stored one if it was deleted)")
    name_then = serializers.CharField(help_text="what it was called when the deal moved")


class StageHistoryEntrySerializer(serializers.Serializer):
    activity_id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor_id = serializers.IntegerField(allow_null=True)
    to = HistoryStageSerializer()
    reason = serializers.CharField(allow_blank=True)
    lost_reason = serializers.CharField(allow_null=True)

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = HistoryStageSerializer()  # a keyword in Python
        return fields


class OpportunityStageSerializer(serializers.Serializer):
    stage = serializers.JSONField(help_text="a stage of the deal's pipeline: its id, or its key")
    lost_reason = serializers.JSONField(
        required=False,
        default=None,
        allow_null=True,
        help_text="required when moving to a lost stage: a lost reason's id",
    )
    reason = StrictCharField(
        max_length=1000, required=False, allow_blank=True, default="", help_text="free text, kept with it"
    )
