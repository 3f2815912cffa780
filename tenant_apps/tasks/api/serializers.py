from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from tenant_apps.tasks.models import Task, TaskStatus
from tenant_apps.tasks.selectors import ANCHORS, anchor_of
from tenant_apps.tasks.services import TRANSITIONS

MAX_ID = 2**63 - 1


def _id(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class TaskAssigneeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


class TaskRecordSerializer(serializers.Serializer):
    # plain strings, not enums: drf-spectacular names enums by field name, and other apps' "type" and
    # "status" enums hold other values
    type = serializers.CharField(help_text=f"one of {', '.join(ANCHORS)}")
    id = serializers.IntegerField()
    name = serializers.CharField()


class TaskSerializer(serializers.ModelSerializer):
    assignee = TaskAssigneeSerializer(allow_null=True)
    status = serializers.CharField(help_text=f"one of {', '.join(TaskStatus.values)}")
    record = serializers.SerializerMethodField()
    is_overdue = serializers.SerializerMethodField()
    allowed_transitions = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "description",
            "due_at",
            "status",
            "completed_at",
            "assignee",
            "record",
            "lead",
            "contact",
            "account",
            "opportunity",
            "created_by",
            "created_at",
            "updated_at",
            "is_overdue",
            "allowed_transitions",
        ]
        read_only_fields = fields

    @extend_schema_field(TaskRecordSerializer)
    def get_record(self, task: Task) -> dict[str, Any]:
        record = anchor_of(task)
        return {"type": record._meta.model_name, "id": record.pk, "name": record.name}

    def get_is_overdue(self, task: Task) -> bool:
        return task.status == TaskStatus.OPEN and task.due_at is not None and task.due_at < timezone.now()

    def get_allowed_transitions(self, task: Task) -> list[str]:
        return list(TRANSITIONS[task.status])


class _RefuseUnknown(serializers.Serializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A misspelled field silently ignored would look like a saved change: refuse it.
        unknown = (
            sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        )
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs


class TaskWriteSerializer(_RefuseUnknown):
    """Typing of the input; the rules (one live record, active assignee) live in the service."""

    title = StrictCharField(max_length=300)
    description = StrictCharField(max_length=20_000, required=False, allow_blank=True)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    assignee = _id(required=False, allow_null=True, help_text="A member id; the signed-in member if omitted.")

    def to_service(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        if "assignee" in data:
            data["assignee_id"] = data.pop("assignee")
        return data


class TaskCreateSerializer(TaskWriteSerializer):
    lead = _id(required=False, allow_null=True)
    contact = _id(required=False, allow_null=True)
    account = _id(required=False, allow_null=True)
    opportunity = _id(required=False, allow_null=True)

    def to_service(self) -> dict[str, Any]:
        data = super().to_service()
        for name in ANCHORS:
            if name in data:
                data[f"{name}_id"] = data.pop(name)
        return data


class TaskUpdateSerializer(TaskWriteSerializer):
    status = serializers.CharField(required=False, help_text="Refused: use /complete/, /cancel/, /reopen/.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)
