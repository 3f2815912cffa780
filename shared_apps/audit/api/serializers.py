from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from shared_apps.audit.models import AuditEvent
from shared_apps.audit.selectors import CSV_COLUMNS


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", *CSV_COLUMNS]  # the CSV has the same columns
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.STR)
class MomentField(serializers.Field):
    """A date (YYYY-MM-DD: the start of that day, or with `end_of_day` the start of the next, so the day is
    included) or an ISO 8601 datetime (without an offset: the server's time zone)."""

    default_error_messages = {"invalid": "Expected a date (YYYY-MM-DD) or an ISO 8601 datetime."}

    def __init__(self, *, end_of_day: bool = False, **kwargs: Any) -> None:
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        try:
            moment = parse_datetime(data.strip()) if "T" in data or " " in data.strip() else None
            day = None if moment else parse_date(data.strip())
        except ValueError:
            self.fail("invalid")
        if moment is None and day is None:
            self.fail("invalid")
        if day is not None:
            moment = datetime.combine(day + timedelta(days=1) if self.end_of_day else day, time.min)
        assert moment is not None
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)

    def to_representation(self, value: date) -> str:
        return value.isoformat()


class AuditFilterSerializer(serializers.Serializer):
    actor = serializers.CharField(
        max_length=254, required=False, help_text="A member's id, or the email they acted as."
    )
    action = serializers.CharField(
        max_length=64,
        required=False,
        help_text='An action ("member.role_changed"), or a prefix ending with a dot ("member.").',
    )
    since = MomentField(required=False, help_text="From this date or datetime (inclusive).")
    until = MomentField(
        end_of_day=True, required=False, help_text="Until this datetime, or through this date (inclusive)."
    )

    def validate_actor(self, value: str) -> str:
        value = value.strip()
        if value.isdigit() and len(value) > 18:
            raise serializers.ValidationError("No member has such an id.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be after since."]})
        return attrs
