"""Each record type's list filters (query parameters), shared by its list endpoint, its export and search:
the records core's API, so those apps never import one another's api."""

from __future__ import annotations

from rest_framework import serializers

from tenant_apps.accounts.models import AccountSize, AccountStatus
from tenant_apps.leads.models import Source, Stage
from tenant_apps.records.api.serializers import RecordFilterSerializer


def _csv(choices: list[str], name: str) -> serializers.CharField:
    return serializers.CharField(required=False, help_text=f"comma-separated {name}: {', '.join(choices)}")


class LeadFilterSerializer(RecordFilterSerializer):
    stage = _csv(Stage.values, "stages")
    source = _csv(Source.values, "sources")  # type: ignore[assignment]
    value_min = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    value_max = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    last_contacted_after = serializers.DateTimeField(required=False)
    last_contacted_before = serializers.DateTimeField(required=False)

    def validate_stage(self, value: str) -> list[str]:
        return self.choices(value.upper(), Stage.values)

    def validate_source(self, value: str) -> list[str]:
        return self.choices(value.lower(), Source.values)


class AccountFilterSerializer(RecordFilterSerializer):
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
    account = serializers.CharField(required=False, help_text='an account id, or "none"')

    def validate_account(self, value: str) -> str | int:
        if value == "none":
            return value
        if not value.isdigit() or len(value) > 18:
            raise serializers.ValidationError('Use an account id or "none".')
        return int(value)
