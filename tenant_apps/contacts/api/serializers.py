from __future__ import annotations

from typing import Any

from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from tenant_apps.contacts.models import Contact
from tenant_apps.records.api.serializers import (
    CustomValuesField,
    CustomValuesInput,
    IdField,
    OwnerSerializer,
    RefSerializer,
    StrictSerializer,
)


class ContactSerializer(serializers.ModelSerializer):
    custom = CustomValuesField("contact")
    account = RefSerializer(allow_null=True)
    owner = OwnerSerializer(allow_null=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "name",
            "email",
            "phone",
            "title",
            "account",
            "owner",
            "tags",
            "last_contacted_at",
            "created_at",
            "updated_at",
            "deleted_at",
            "custom",
        ]
        read_only_fields = fields


class ContactWriteSerializer(StrictSerializer):
    id_fields = ("owner", "account")

    name = StrictCharField(max_length=200)
    email = StrictCharField(max_length=254, required=False, allow_blank=True)
    phone = StrictCharField(max_length=40, required=False, allow_blank=True)
    title = StrictCharField(max_length=200, required=False, allow_blank=True)
    account = IdField(required=False, allow_null=True, help_text="a live account's id")
    owner = IdField(required=False, allow_null=True)
    tags = serializers.ListField(child=StrictCharField(max_length=50), max_length=20, required=False)
    custom = CustomValuesInput("contact")
    allow_duplicate = serializers.BooleanField(required=False, default=False)
    allow_do_not_contact = serializers.BooleanField(required=False, default=False)


class ContactUpdateSerializer(ContactWriteSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)
