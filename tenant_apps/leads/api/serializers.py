from __future__ import annotations

from typing import Any

from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from shared_apps.http.representation import CompiledRepresentation
from tenant_apps.leads.models import Lead, LeadStatus, Source, Stage
from tenant_apps.opportunities.stage_labels import lead_stage_labels
from tenant_apps.records.api.serializers import (
    CustomValuesField,
    CustomValuesInput,
    IdField,
    OwnerSerializer,
    StrictSerializer,
)


class LeadSerializer(CompiledRepresentation, serializers.ModelSerializer):
    """A lead as the API answers it; built from a compiled plan (shared_apps.http.representation): a list
    page's 50 leads cost one walk of the fields, not fifty, and the plan is kept per time zone."""

    plan_per_class = True

    custom = CustomValuesField("lead")
    owner = OwnerSerializer(allow_null=True)
    allowed_transitions = serializers.SerializerMethodField()
    stage_label = serializers.SerializerMethodField(
        help_text="the stage as the organization calls it (admins rename labels; the stages stay)"
    )
    status = serializers.ChoiceField(
        choices=LeadStatus.choices,
        read_only=True,
        help_text="converted once converted_at is set (the lead has left the pipeline; `stage` is the one "
        "it was converted in), else open, won or lost by its stage",
    )

    class Meta:
        model = Lead
        fields = [
            "id",
            "name",
            "email",
            "phone",
            "company",
            "source",
            "stage",
            "stage_label",
            "status",
            "value",
            "currency",
            "owner",
            "tags",
            "score",
            "stage_changed_at",
            "last_contacted_at",
            "created_at",
            "updated_at",
            "deleted_at",
            "allowed_transitions",
            # where a converted lead went (ids; null until converted)
            "converted_at",
            "converted_account",
            "converted_contact",
            "converted_opportunity",
            "custom",
        ]
        read_only_fields = fields

    def get_stage_label(self, lead: Lead) -> str:
        # read once per serializer (a list page's leads share the child serializer): a cache round trip
        # per lead was three quarters of a 50-lead page's serialization
        labels: dict[str, str] | None = getattr(self, "_stage_labels", None)
        if labels is None:
            labels = self._stage_labels = lead_stage_labels()
        return labels.get(lead.stage, lead.stage)

    def get_allowed_transitions(self, lead: Lead) -> list[str]:
        return list(lead.allowed_stages())


class LeadWriteSerializer(StrictSerializer):
    """Typing of the input; the rules (normalization, duplicates, membership) live in the service."""

    name = StrictCharField(max_length=200)
    email = StrictCharField(max_length=254, required=False, allow_blank=True)
    phone = StrictCharField(max_length=40, required=False, allow_blank=True)
    company = StrictCharField(max_length=200, required=False, allow_blank=True)
    source = serializers.ChoiceField(choices=Source.choices, required=False)  # type: ignore[assignment]
    value = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    currency = StrictCharField(max_length=3, required=False)
    owner = IdField(required=False, allow_null=True)
    tags = serializers.ListField(child=StrictCharField(max_length=50), max_length=20, required=False)
    custom = CustomValuesInput("lead")
    score = serializers.IntegerField(required=False, min_value=-1_000_000, max_value=1_000_000)


class LeadCreateSerializer(LeadWriteSerializer):
    allow_duplicate = serializers.BooleanField(required=False, default=False)
    allow_do_not_contact = serializers.BooleanField(required=False, default=False)
    stage = serializers.CharField(required=False, help_text="Refused: new leads start in NEW.")


class LeadUpdateSerializer(LeadWriteSerializer):
    allow_duplicate = serializers.BooleanField(required=False, default=False)
    allow_do_not_contact = serializers.BooleanField(required=False, default=False)
    stage = serializers.CharField(required=False, help_text="Refused: use the transition endpoint.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class TransitionSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
