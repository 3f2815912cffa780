"""Each record type's list filters (query parameters), shared by its list endpoint, its export and search:
the records core's API, so those apps never import one another's api. (Tasks hang on records: their list
filters live here too, for the same reason.)"""

from __future__ import annotations

import re

from rest_framework import serializers

from tenant_apps.accounts.models import AccountSize, AccountStatus
from tenant_apps.leads.models import LeadStatus, Source, Stage
from tenant_apps.opportunities.models import OpportunityStage
from tenant_apps.records.api.serializers import IdField, RecordFilterSerializer, comma_separated
from tenant_apps.tasks.models import TaskStatus


def _csv(choices: list[str], name: str) -> serializers.CharField:
    return serializers.CharField(required=False, help_text=f"comma-separated {name}: {', '.join(choices)}")


class LeadFilterSerializer(RecordFilterSerializer):
    record_type = "lead"
    stage = _csv(Stage.values, "stages")
    status = _csv(LeadStatus.values, "statuses (converted: left the pipeline, whatever its stage)")
    source = _csv(Source.values, "sources")  # type: ignore[assignment]
    value_min = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    value_max = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    last_contacted_after = serializers.DateTimeField(required=False)
    last_contacted_before = serializers.DateTimeField(required=False)

    def validate_stage(self, value: str) -> list[str]:
        return self.choices(value.upper(), Stage.values)

    def validate_status(self, value: str) -> list[str]:
        return self.choices(value.lower(), LeadStatus.values)

    def validate_source(self, value: str) -> list[str]:
        return self.choices(value.lower(), Source.values)


class AccountFilterSerializer(RecordFilterSerializer):
    record_type = "account"
    status = serializers.CharField(
        required=False, help_text=f"comma-separated statuses: {', '.join(AccountStatus.values)}"
    )
    industry = serializers.CharField(required=False, max_length=100)
    size = serializers.CharField(
        required=False, help_text=f"comma-separated sizes: {', '.join(AccountSize.values)}"
    )
    inactive_since = serializers.DateTimeField(
        required=False, help_text="no activity since then (last_activity_at before it, or never)"
    )

    def validate_status(self, value: str) -> list[str]:
        return self.choices(value.lower(), AccountStatus.values)

    def validate_size(self, value: str) -> list[str]:
        return self.choices(value, AccountSize.values)

    def validate_industry(self, value: str) -> str:
        return value.strip()


class ContactFilterSerializer(RecordFilterSerializer):
    record_type = "contact"
    account = serializers.CharField(required=False, help_text='an account id, or "none"')

    def validate_account(self, value: str) -> str | int:
        if value == "none":
            return value
        if not value.isdigit() or len(value) > 18:
            raise serializers.ValidationError('Use an account id or "none".')
        return int(value)


class OpportunityFilterSerializer(RecordFilterSerializer):
    record_type = "opportunity"
    pipeline = IdField(required=False, help_text="a pipeline's id")
    stage = serializers.CharField(
        required=False,
        help_text="comma-separated stage ids, or keys of the pipeline given (the default pipeline's "
        f"otherwise, whose first keys are {', '.join(OpportunityStage.values)})",
    )
    account = IdField(required=False)
    closing_after = serializers.DateField(required=False, help_text="expected close date on or after")
    closing_before = serializers.DateField(required=False, help_text="expected close date before")
    amount_min = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    amount_max = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    open = serializers.BooleanField(
        required=False, allow_null=True, help_text="true: open ones only; false: closed ones only"
    )

    def validate_stage(self, value: str) -> list[int | str]:
        stages: list[int | str] = []
        for part in value.split(","):
            token = part.strip().upper()
            if token.isdigit() and len(token) <= 18:
                stages.append(int(token))
            elif re.fullmatch(r"[A-Z0-9_]{1,64}", token):
                stages.append(token)
            else:
                raise serializers.ValidationError("Use stage ids or keys, comma-separated.")
        return stages


class TaskFilterSerializer(serializers.Serializer):
    assignee = serializers.CharField(required=False, help_text='"me", "none" or a member id')
    status = serializers.CharField(
        required=False, help_text=f"comma-separated: {', '.join(TaskStatus.values)}"
    )
    due_before = serializers.DateTimeField(required=False)
    due_after = serializers.DateTimeField(required=False)
    # default=None: an omitted boolean in a query string would otherwise read as false
    overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
    due_today = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="due on the member's local today"
    )
    lead = IdField(required=False)
    contact = IdField(required=False)
    account = IdField(required=False)
    opportunity = IdField(required=False)

    def validate_assignee(self, value: str) -> str | int:
        if value in ("me", "none"):
            return value
        if not value.isdigit() or len(value) > 18 or int(value) < 1:
            raise serializers.ValidationError('Use "me", "none" or a member id.')
        return int(value)

    def validate_status(self, value: str) -> list[str]:
        return comma_separated(value.lower(), TaskStatus.values)
