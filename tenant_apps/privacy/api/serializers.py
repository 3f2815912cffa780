from __future__ import annotations

from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from tenant_apps.privacy.models import DoNotContact, SuppressionReason
from tenant_apps.records.api.serializers import StrictSerializer


class PersonSerializer(StrictSerializer):
    """The person a privacy request is about, by email address (compared trimmed and lowercase)."""

    email = StrictCharField(max_length=254)


class DoNotContactSerializer(serializers.ModelSerializer):
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True, read_only=True)

    class Meta:
        model = DoNotContact
        fields = ["id", "email", "reason", "created_at", "created_by"]
        read_only_fields = fields


class DoNotContactFilterSerializer(StrictSerializer):
    reason = serializers.ChoiceField(choices=SuppressionReason.choices, required=False)
    email = StrictCharField(max_length=254, required=False)


class ErasureSerializer(serializers.Serializer):
    """How many of each kind of record the erasure found and redacted (0 for an unknown address)."""

    email_sha256 = serializers.CharField()
    leads = serializers.IntegerField()
    contacts = serializers.IntegerField()
    activities = serializers.IntegerField()
    notes = serializers.IntegerField()
    tasks = serializers.IntegerField()
    enrollments_stopped = serializers.IntegerField()
    sequence_emails = serializers.IntegerField()
    notifications = serializers.IntegerField()
    do_not_contact = serializers.ChoiceField(choices=SuppressionReason.choices)
