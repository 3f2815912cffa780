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


class OpportunitySerializer(serializers.ModelSerializer):
    custom = CustomValuesField("opportunity")
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
            "stage",
            "probability",
            "weighted_amount",
            "expected_close_date",
            "is_closed",
            "closed_at",
            "close_reason",
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
    stage = serializers.ChoiceField(
        choices=OpportunityStage.choices,
        required=False,
        help_text="an open stage (QUALIFICATION by default); close through the stage endpoint",
    )


class OpportunityUpdateSerializer(OpportunityWriteSerializer):
    stage = serializers.CharField(required=False, help_text="Refused: use the stage endpoint.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class OpportunityStageSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=OpportunityStage.choices)
    reason = StrictCharField(
        max_length=1000, required=False, allow_blank=True, default="", help_text="required for CLOSED_LOST"
    )
