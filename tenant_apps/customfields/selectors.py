"""Reads of custom field definitions (every member reads them: they describe what the records show)."""

from __future__ import annotations

from django.db.models import QuerySet

from shared_apps.core.errors import NotFound
from tenant_apps.customfields.models import CustomField, FieldState


def custom_field_list(*, record_type: str | None = None) -> QuerySet[CustomField]:
    fields = CustomField.objects.filter(state=FieldState.ACTIVE).order_by("record_type", "position", "id")
    return fields.filter(record_type=record_type) if record_type else fields


def custom_field_get(*, field_id: int) -> CustomField:
    field = CustomField.objects.filter(pk=field_id, state=FieldState.ACTIVE).first()
    if field is None:
        raise NotFound("No such custom field.", code="custom_field_not_found", id=field_id)
    return field
