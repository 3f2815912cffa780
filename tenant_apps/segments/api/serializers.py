from __future__ import annotations

from typing import Any

from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.records.api.serializers import OwnerSerializer
from tenant_apps.segments.models import RecordType, Segment


class SegmentSerializer(serializers.ModelSerializer):
    owner = OwnerSerializer(allow_null=True)
    can_edit = serializers.SerializerMethodField()

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "record_type",
            "definition",
            "shared",
            "owner",
            "can_edit",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_can_edit(self, segment: Segment) -> bool:
        actor = self.context.get("actor")
        return actor is not None and (segment.owner_id == actor.pk or actor.role == Role.ADMIN)


class _RefuseUnknown(serializers.Serializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A misspelled field silently ignored would look like a saved change: refuse it.
        unknown = (
            sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        )
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs


class SegmentWriteSerializer(_RefuseUnknown):
    """Typing of the input; the definition is checked against the field whitelist by the service."""

    name = StrictCharField(max_length=200)
    record_type = serializers.ChoiceField(choices=RecordType.choices)
    definition = serializers.JSONField(
        required=False,
        help_text='{"match": "all"|"any", "conditions": [{"field": ..., "op": ..., "value": ...}]}',
    )
    shared = serializers.BooleanField(required=False)


class SegmentUpdateSerializer(SegmentWriteSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class SegmentFilterSerializer(serializers.Serializer):
    record_type = serializers.ChoiceField(choices=RecordType.choices, required=False)
    # default=None: an omitted boolean in a query string would otherwise read as false
    mine = serializers.BooleanField(required=False, allow_null=True, default=None)


class PresetSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    record_type = serializers.ChoiceField(choices=RecordType.choices)
    description = serializers.CharField()


# Compact rows of a segment's results: the key fields of each record type, the owner as the record lists
# show it (an object, joined in the same query).
COMMON_ROW_FIELDS = ["id", "name", "owner", "tags", "created_at", "updated_at"]
OWNER_COLUMNS = tuple(f"owner__{field}" for field in OwnerSerializer().fields)


class _RowSerializer(serializers.ModelSerializer):
    owner = OwnerSerializer(allow_null=True, read_only=True)


class LeadRowSerializer(_RowSerializer):
    class Meta:
        model = Lead
        fields = [
            *COMMON_ROW_FIELDS,
            "email",
            "company",
            "source",
            "stage",
            "value",
            "currency",
            "score",
            "last_contacted_at",
        ]
        read_only_fields = fields


class ContactRowSerializer(_RowSerializer):
    class Meta:
        model = Contact
        fields = [*COMMON_ROW_FIELDS, "email", "phone", "title", "account", "last_contacted_at"]
        read_only_fields = fields


class AccountRowSerializer(_RowSerializer):
    class Meta:
        model = Account
        fields = [*COMMON_ROW_FIELDS, "domain", "industry", "size", "status", "last_activity_at"]
        read_only_fields = fields


class OpportunityRowSerializer(_RowSerializer):
    class Meta:
        model = Opportunity
        fields = [
            *COMMON_ROW_FIELDS,
            "account",
            "stage",
            "amount",
            "currency",
            "probability",
            "expected_close_date",
            "closed_at",
        ]
        read_only_fields = fields


ROW_SERIALIZERS: dict[str, type[serializers.ModelSerializer]] = {
    RecordType.LEAD: LeadRowSerializer,
    RecordType.CONTACT: ContactRowSerializer,
    RecordType.ACCOUNT: AccountRowSerializer,
    RecordType.OPPORTUNITY: OpportunityRowSerializer,
}
