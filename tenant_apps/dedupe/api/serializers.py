from __future__ import annotations

from typing import Any

from rest_framework import serializers

from tenant_apps.dedupe.services import MAX_ID, MAX_MERGED
from tenant_apps.records.api.serializers import ActivitySerializer


def _record_id() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID)


class MergeSerializer(serializers.Serializer):
    """Typing of a merge request; which fields may be chosen and the state rules live in the service."""

    survivor = _record_id()
    merged = serializers.ListField(child=_record_id(), min_length=1, max_length=MAX_MERGED)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # "fields" is a Serializer attribute: declare the input field of that name here
        fields["fields"] = serializers.DictField(
            child=_record_id(),
            required=False,
            default=dict,
            help_text='{"<field>": <id of the record whose value the survivor takes>}; tags are united.',
        )
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = (
            sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        )
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs


class MergeResultSerializer(serializers.Serializer):
    survivor_id = serializers.IntegerField(source="survivor.pk")
    merged_ids = serializers.ListField(child=serializers.IntegerField())
    field_winners = serializers.DictField(child=serializers.IntegerField())
    moved = serializers.DictField(child=serializers.IntegerField(), help_text="rows moved, by kind")
    left_on_tombstones = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="activities left on their tombstone: the same email (Message-ID) is on the survivor",
    )
    activity = ActivitySerializer(help_text="the MERGED activity on the survivor")


class SuggestionSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="record.pk")
    name = serializers.CharField(source="record.name")
    score = serializers.FloatField(help_text="0 to 1: exact email/phone/domain matches weigh most")
    reasons = serializers.ListField(child=serializers.CharField(), help_text='e.g. "email", "name ~0.82"')


class LeadSuggestionSerializer(SuggestionSerializer):
    email = serializers.CharField(source="record.email")
    phone = serializers.CharField(source="record.phone")
    company = serializers.CharField(source="record.company")


class ContactSuggestionSerializer(SuggestionSerializer):
    email = serializers.CharField(source="record.email")
    phone = serializers.CharField(source="record.phone")
    account_id = serializers.IntegerField(source="record.account_id", allow_null=True)


class AccountSuggestionSerializer(SuggestionSerializer):
    domain = serializers.CharField(source="record.domain")
