from __future__ import annotations

from typing import Any

from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from tenant_apps.accounts.models import Account, AccountSize, AccountStatus, AccountStatusChange
from tenant_apps.records.api.serializers import (
    ActorSerializer,
    CustomValuesField,
    CustomValuesInput,
    IdField,
    OwnerSerializer,
    StrictSerializer,
)


class AccountSerializer(serializers.ModelSerializer):
    custom = CustomValuesField("account")
    owner = OwnerSerializer(allow_null=True)
    # declared so the schema lists "" (no size given): read-only model fields lose allow_blank
    size = serializers.ChoiceField(choices=AccountSize.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "domain",
            "industry",
            "size",
            "status",
            "owner",
            "tags",
            "last_activity_at",
            "created_at",
            "updated_at",
            "deleted_at",
            "custom",
        ]
        read_only_fields = fields


class AccountWriteSerializer(StrictSerializer):
    name = StrictCharField(max_length=200)
    domain = StrictCharField(
        max_length=2000, required=False, allow_blank=True, help_text="normalized: acme.com"
    )
    industry = StrictCharField(max_length=100, required=False, allow_blank=True)
    size = serializers.ChoiceField(choices=AccountSize.choices, required=False, allow_blank=True)
    owner = IdField(required=False, allow_null=True)
    tags = serializers.ListField(child=StrictCharField(max_length=50), max_length=20, required=False)
    custom = CustomValuesInput("account")


class AccountCreateSerializer(AccountWriteSerializer):
    status = serializers.ChoiceField(
        choices=AccountStatus.choices, required=False, help_text="the starting status (prospect by default)"
    )


class AccountUpdateSerializer(AccountWriteSerializer):
    status = serializers.CharField(required=False, help_text="Refused: use the status endpoint.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class AccountStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AccountStatus.choices)
    reason = StrictCharField(max_length=1000, required=False, allow_blank=True, default="")


class AccountStatusChangeSerializer(serializers.ModelSerializer):
    actor = ActorSerializer(allow_null=True)

    class Meta:
        model = AccountStatusChange
        fields = ["id", "from_status", "to_status", "actor", "reason", "at"]
        read_only_fields = fields
