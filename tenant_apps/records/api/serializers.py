"""Serializers every customer record (lead, account, contact, opportunity) shares: ids and references,
strict write input, the common list filters, owners, notes and a record's activities."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from drf_spectacular.drainage import set_override
from rest_framework import serializers

from tenant_apps.activities.models import LOGGABLE_TYPES, Activity, ActivityType, Note
from tenant_apps.customfields.filters import PREFIX as CUSTOM_PREFIX
from tenant_apps.customfields.filters import custom_filter_q
from tenant_apps.customfields.values import serialize_values


class ActorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


class ActivitySerializer(serializers.ModelSerializer):
    actor = ActorSerializer(allow_null=True)

    class Meta:
        model = Activity
        fields = [
            "id",
            "lead",
            "type",
            "subject",
            "body",
            "metadata",
            "actor",
            "occurred_at",
            "created_at",
            "message_id",
            "thread_id",
        ]
        read_only_fields = fields


class ActivityLogSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[(t, ActivityType(t).label) for t in LOGGABLE_TYPES])
    subject = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    body = serializers.CharField(
        max_length=100_000, required=False, allow_blank=True, default="", trim_whitespace=False
    )
    metadata = serializers.JSONField(required=False, default=dict)
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


def comma_separated(value: str, allowed: list[str]) -> list[str]:
    """A query parameter's comma-separated values, each one of `allowed` (else a 400 naming them)."""
    values = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in values if item not in allowed]
    if unknown:
        raise serializers.ValidationError(f"Unknown: {', '.join(unknown)}; expected {', '.join(allowed)}.")
    return values


class ActivityFilterSerializer(serializers.Serializer):
    type = serializers.CharField(
        required=False, help_text=f"comma-separated: {', '.join(ActivityType.values)}"
    )

    def validate_type(self, value: str) -> list[str]:
        return comma_separated(value.upper(), ActivityType.values)


class IdField(serializers.IntegerField):
    """A record's or member's id: a positive bigint (a larger number is a 400, not a database error)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=2**63 - 1, **kwargs)


class RefSerializer(serializers.Serializer):
    """Another record, by id and name."""

    id = serializers.IntegerField()
    name = serializers.CharField()


class StrictSerializer(serializers.Serializer):
    """Typing of the input; the rules live in the services. A misspelled field silently ignored would look
    like a saved change, so unknown fields are refused; `owner`, `account`, ... reach the service as
    `owner_id`, `account_id`, ..."""

    id_fields: tuple[str, ...] = ("owner",)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = (
            sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        )
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs

    def to_service(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        for field in self.id_fields:
            if field in data:
                data[f"{field}_id"] = data.pop(field)
        return data


# The schema of `custom` is the organization's own: tenant_apps.customfields.schema replaces this object, on
# each organization's /api/schema/, with that organization's fields of the record type named here.
def _custom_schema(record_type: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "This organization's custom fields of the record type (GET /api/custom-fields/)",
        "additionalProperties": True,
        "x-custom-fields": record_type,
    }


class CustomValuesField(serializers.Field):
    """A record's custom values, read: {"<key>": value} of the organization's fields
    (tenant_apps.customfields.values.serialize_values)."""

    def __init__(self, record_type: str, **kwargs: Any) -> None:
        self.record_type = record_type
        super().__init__(read_only=True, source="*", **kwargs)
        set_override(self, "field", _custom_schema(record_type))

    def to_representation(self, value: Any) -> dict[str, Any]:
        return serialize_values(self.record_type, value)


class CustomValuesInput(serializers.JSONField):
    """Custom values, written: the keys sent change (null clears one); validated by the service."""

    def __init__(self, record_type: str, **kwargs: Any) -> None:
        self.record_type = record_type
        super().__init__(required=False, **kwargs)
        set_override(self, "field", _custom_schema(record_type))


class RecordFilterSerializer(serializers.Serializer):
    """The filters every record list has. `custom.<key>` parameters (tenant_apps.customfields.filters) reach
    the selector as one Q under "custom"."""

    record_type = ""  # lead, contact, account, opportunity: whose custom fields `custom.*` names

    owner = serializers.CharField(required=False, help_text='"me", "none" or a member id')
    tag = serializers.CharField(required=False, max_length=50)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)

    def choices(self, value: str, allowed: list[str]) -> list[str]:
        return comma_separated(value, allowed)

    @classmethod
    def when_nothing_asked(cls, params: Any) -> dict[str, Any] | None:
        """For shared_apps.http.api.parse: when no query parameter names a filter of this class (nor a
        custom field), what validating would give (the filters' defaults), without building the serializer
        and deep-copying its fields, which was a third of a millisecond per list request. None otherwise."""
        if not isinstance(params, QueryDict):
            return None
        declared = cls._declared_fields
        for name in params:
            if name in declared or name.startswith(CUSTOM_PREFIX):
                return None
        defaults = cls.__dict__.get("_nothing_asked")
        if defaults is None:
            serializer = cls(data=QueryDict(""))
            serializer.is_valid(raise_exception=True)
            defaults = dict(serializer.validated_data)
            cls._nothing_asked = defaults  # type: ignore[attr-defined]
        return dict(defaults)

    def validate_owner(self, value: str) -> str | int:
        if value in ("me", "none"):
            return value
        if not value.isdigit() or len(value) > 18:
            raise serializers.ValidationError('Use "me", "none" or a member id.')
        return int(value)

    def validate_tag(self, value: str) -> str:
        return " ".join(value.split()).lower()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if self.record_type and hasattr(self.initial_data, "get"):
            custom = custom_filter_q(self.record_type, self.initial_data)
            if custom is not None:
                attrs["custom"] = custom
        return attrs


class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "body", "author", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class RecordActivitySerializer(ActivitySerializer):
    """An activity with every record it is on: an account's timeline rolls up its contacts',
    opportunities' and converted leads' activities."""

    class Meta(ActivitySerializer.Meta):
        fields = [*ActivitySerializer.Meta.fields, "contact", "account", "opportunity"]
        read_only_fields = fields
