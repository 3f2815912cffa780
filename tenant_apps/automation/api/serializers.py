from __future__ import annotations

from typing import Any

from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from tenant_apps.automation.models import (
    LeadScore,
    Match,
    RoutingStrategy,
    Rule,
    RuleRun,
    RunStatus,
    ScoringKind,
    ScoringRule,
    TriggerType,
)


class StrictSerializer(serializers.Serializer):
    """Typing of the input; the rules (whitelists of triggers, fields, operators, actions) live in the
    services. A misspelled field silently ignored would look like a saved change: refuse it."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = (
            sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        )
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs


class StrictBooleanField(serializers.BooleanField):
    """true or false in JSON, not "yes", "on" or 1."""

    default_error_messages = {"invalid": "Expected true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class RuleWriteSerializer(StrictSerializer):
    name = StrictCharField(max_length=200)
    active = StrictBooleanField(required=False, default=True)
    trigger = serializers.JSONField(
        help_text='{"type": "lead_created" | "stage_entered" (stage) | "field_changed" (field, from?, to?) | '
        '"idle" (days) | "task_overdue"}'
    )
    match = serializers.ChoiceField(choices=Match.choices, required=False, default=Match.ALL)
    conditions = serializers.JSONField(
        required=False, help_text='[{"field": "value", "op": "gt", "value": 10000}, ...]'
    )
    actions = serializers.JSONField(help_text='[{"type": "add_tag", "tag": "hot"}, ...]')


class RuleUpdateSerializer(RuleWriteSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class RuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "active",
            "trigger",
            "match",
            "conditions",
            "actions",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RuleFilterSerializer(serializers.Serializer):
    active = serializers.BooleanField(required=False, allow_null=True, default=None)
    trigger_type = serializers.ChoiceField(choices=TriggerType.choices, required=False)


class RuleRunSerializer(serializers.ModelSerializer):
    lead = serializers.IntegerField(source="lead_id")

    class Meta:
        model = RuleRun
        fields = [
            "id",
            "rule",
            "lead",
            "task_id",
            "event_key",
            "topic",
            "depth",
            "status",
            "error",
            "results",
            "created_at",
        ]
        read_only_fields = fields


class RuleRunFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    lead = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


class TerritorySerializer(serializers.Serializer):
    kind = serializers.CharField(
        help_text="source | country (tag country:<code>) | region (tag region:<name>)"
    )
    value = serializers.CharField()
    member = serializers.IntegerField()


class RoutingWriteSerializer(StrictSerializer):
    strategy = serializers.ChoiceField(choices=RoutingStrategy.choices)
    members = serializers.JSONField(required=False, help_text="member ids in round-robin order")
    territories = serializers.JSONField(
        required=False, help_text='[{"kind": "country", "value": "de", "member": 7}, ...]'
    )


class RoutingSerializer(serializers.Serializer):
    strategy = serializers.CharField()
    members = serializers.ListField(child=serializers.IntegerField())
    territories = TerritorySerializer(many=True)
    next_member = serializers.IntegerField(
        allow_null=True, help_text="who round-robin gives the next lead to"
    )


class ScoringRuleWriteSerializer(StrictSerializer):
    name = StrictCharField(max_length=200)
    kind = serializers.ChoiceField(choices=ScoringKind.choices)
    active = StrictBooleanField(required=False)
    points = serializers.IntegerField(min_value=-10_000, max_value=10_000)
    condition = serializers.JSONField(required=False, help_text='field rules: {"field", "op", "value"}')
    activity_type = serializers.CharField(required=False, allow_blank=True, max_length=16)
    within_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3_650)
    max_points = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=1_000_000)


class ScoringRuleUpdateSerializer(ScoringRuleWriteSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class ScoringRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoringRule
        fields = [
            "id",
            "name",
            "kind",
            "active",
            "condition",
            "activity_type",
            "within_days",
            "points",
            "max_points",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LeadScoreSerializer(serializers.Serializer):
    lead_id = serializers.IntegerField()
    score = serializers.IntegerField()
    computed_at = serializers.DateTimeField(allow_null=True)
    breakdown = serializers.ListField(
        child=serializers.DictField(),
        help_text="one entry per scoring rule: rule_id, name, kind, points, ...",
    )

    @staticmethod
    def of(lead_id: int, lead_score: int, stored: LeadScore | None) -> dict[str, Any]:
        if stored is None:
            return {"lead_id": lead_id, "score": lead_score, "computed_at": None, "breakdown": []}
        return {
            "lead_id": lead_id,
            "score": lead_score,
            "computed_at": stored.computed_at,
            "breakdown": stored.breakdown,
        }
