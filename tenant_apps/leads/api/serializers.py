from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from shared_apps.http.representation import CompiledRepresentation
from tenant_apps.customfields.values import serialize_values
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

    def to_representation(self, instance: Any) -> dict[str, Any]:
        if type(instance) is not Lead or type(self) is not LeadSerializer:  # (a subclass may add fields)
            return super().to_representation(instance)
        written: _LeadRow | None = self.__dict__.get("_lead_row")
        if written is None:
            written = self.__dict__["_lead_row"] = _LeadRow(self)
        return written(instance)

    def get_stage_label(self, lead: Lead) -> str:
        # read once per serializer (a list page's leads share the child serializer): a cache round trip
        # per lead was three quarters of a 50-lead page's serialization
        labels: dict[str, str] | None = getattr(self, "_stage_labels", None)
        if labels is None:
            labels = self._stage_labels = lead_stage_labels()
        return labels.get(lead.stage, lead.stage)

    def get_allowed_transitions(self, lead: Lead) -> list[str]:
        return list(lead.allowed_stages())


class _LeadRow:
    """LeadSerializer's output for a Lead, field by field as its compiled plan renders them (and DRF does),
    written out: a list page is the API's most read answer, and the plan's generic read and render calls
    were most of its 50 leads' serialization. The time zone is the one current at the first lead, as the
    plan's; a value the plan would render otherwise than here (a decimal not stored as numeric(12, 2), a
    date-time out of range) takes the plan. tests/tenant_apps/leads/test_compiled_representation.py holds it
    to DRF's own output, byte for byte, and to Meta.fields."""

    def __init__(self, serializer: LeadSerializer) -> None:
        self.zone = timezone.get_current_timezone()
        self.stage_label = serializer.get_stage_label
        self.plan = serializer  # CompiledRepresentation's to_representation: the fallback

    def _when(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:  # (never read from the database: USE_TZ)
            raise OverflowError
        text = value.astimezone(self.zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    def __call__(self, lead: Lead) -> dict[str, Any]:
        value, owner, tags, custom = lead.value, lead.owner, lead.tags, lead.custom
        stored = value.as_tuple() if type(value) is Decimal else None
        if stored is None or stored.exponent != -2 or len(stored.digits) > 12:
            return CompiledRepresentation.to_representation(self.plan, lead)
        try:
            stage_changed_at = self._when(lead.stage_changed_at)
            last_contacted_at = self._when(lead.last_contacted_at)
            created_at = self._when(lead.created_at)
            updated_at = self._when(lead.updated_at)
            deleted_at = self._when(lead.deleted_at)
            converted_at = self._when(lead.converted_at)
        except OverflowError:  # out of range, or naive: as the plan renders it
            return CompiledRepresentation.to_representation(self.plan, lead)
        return {
            "id": lead.id,
            "name": lead.name,
            "email": lead.email,
            "phone": lead.phone,
            "company": lead.company,
            "source": lead.source,
            "stage": lead.stage,
            "stage_label": self.stage_label(lead),
            "status": str(lead.status),
            "value": f"{value:f}",
            "currency": lead.currency,
            "owner": None
            if owner is None
            else {"id": owner.id, "email": owner.email, "full_name": owner.full_name},
            "tags": None if tags is None else list(tags),
            "score": lead.score,
            "stage_changed_at": stage_changed_at,
            "last_contacted_at": last_contacted_at,
            "created_at": created_at,
            "updated_at": updated_at,
            "deleted_at": deleted_at,
            "allowed_transitions": list(lead.allowed_stages()),
            "converted_at": converted_at,
            "converted_account": lead.converted_account_id,
            "converted_contact": lead.converted_contact_id,
            "converted_opportunity": lead.converted_opportunity_id,
            "custom": serialize_values("lead", lead) if custom else {},  # (none stored: none shown)
        }


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
