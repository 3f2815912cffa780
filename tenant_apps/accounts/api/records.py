"""API pieces every customer record (account, contact, opportunity) shares: references, strict write input,
the common list filters, a merged record's redirect, and the notes and timeline endpoints."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.core.api import ErrorSerializer, OrganizationView, merged_response, parse
from tenant_apps.activities.api.serializers import (
    ActivityFilterSerializer,
    ActivityLogSerializer,
    ActivitySerializer,
)
from tenant_apps.activities.api.views import TimelineCursor
from tenant_apps.activities.models import Activity, Note
from tenant_apps.activities.selectors import activity_list
from tenant_apps.dedupe.selectors import merged_into
from tenant_apps.leads.api.serializers import NoteSerializer
from tenant_apps.leads.api.views import NoteCursor
from tenant_apps.records import visibility

ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
    409: ErrorSerializer,
}
LIST_PARAMETERS = [
    OpenApiParameter("ordering", str),
    OpenApiParameter("cursor", str),
    OpenApiParameter("page_size", int),
]


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


class RecordFilterSerializer(serializers.Serializer):
    owner = serializers.CharField(required=False, help_text='"me", "none" or a member id')
    tag = serializers.CharField(required=False, max_length=50)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)

    def choices(self, value: str, allowed: list[str]) -> list[str]:
        values = [item.strip() for item in value.split(",") if item.strip()]
        unknown = [item for item in values if item not in allowed]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown: {', '.join(unknown)}; expected {', '.join(allowed)}."
            )
        return values

    def validate_owner(self, value: str) -> str | int:
        if value in ("me", "none"):
            return value
        if not value.isdigit() or len(value) > 18:
            raise serializers.ValidationError('Use "me", "none" or a member id.')
        return int(value)

    def validate_tag(self, value: str) -> str:
        return " ".join(value.split()).lower()


def redirect_if_merged(record: Any, url_name: str) -> Response | None:
    """A merged record's detail URL answers 301 to the record it was merged into (at the end of the chain
    when that one was merged too)."""
    if record.merged_into_id is None:
        return None
    survivor_id = merged_into(model=type(record), record_id=record.pk) or record.merged_into_id
    return merged_response(survivor_id=survivor_id, path=reverse(url_name, args=[survivor_id]))


def _record_id(kwargs: dict[str, int]) -> int:
    """The record's id, whatever its URL calls it (account_id, contact_id, ...)."""
    [record_id] = kwargs.values()
    return record_id


class RecordActivitySerializer(ActivitySerializer):
    """An activity with every record it is on: an account's timeline rolls up its contacts',
    opportunities' and converted leads' activities."""

    class Meta(ActivitySerializer.Meta):
        fields = [*ActivitySerializer.Meta.fields, "contact", "account", "opportunity"]
        read_only_fields = fields


class RecordNotesView(OrganizationView):
    """GET lists the record's notes, newest first; POST adds one (also a NOTE activity)."""

    pagination_class = NoteCursor

    def get_record(self, record_id: int) -> Any:
        raise NotImplementedError

    def add_note(self, record_id: int, body: str) -> Note:
        raise NotImplementedError

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)],
        responses={200: NoteSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, **kwargs: int) -> Response:
        record = self.get_record(_record_id(kwargs))
        notes = visibility.notes_for(self.member).filter(**{record._meta.model_name: record})
        return self.paginated(notes, NoteSerializer)

    @extend_schema(request=NoteSerializer, responses={201: NoteSerializer, **ERRORS})
    def post(self, request: Request, **kwargs: int) -> Response:
        data: dict[str, Any] = parse(NoteSerializer, request.data)
        note = self.add_note(_record_id(kwargs), data["body"])
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)


class RecordActivitiesView(OrganizationView):
    """The record's timeline, newest first, filterable by ?type=; POST logs a call, meeting, email, note
    or task. Append-only: there is no update or delete."""

    pagination_class = TimelineCursor

    def get_record(self, record_id: int) -> Any:
        raise NotImplementedError

    def log(self, record_id: int, data: dict[str, Any]) -> Activity:
        raise NotImplementedError

    @extend_schema(
        parameters=[
            ActivityFilterSerializer,
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses={200: RecordActivitySerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, **kwargs: int) -> Response:
        filters = parse(ActivityFilterSerializer, request.query_params)
        record = self.get_record(_record_id(kwargs))
        activities = activity_list(record=record, types=filters.get("type"), actor=self.member)
        return self.paginated(activities, RecordActivitySerializer)

    @extend_schema(request=ActivityLogSerializer, responses={201: RecordActivitySerializer, **ERRORS})
    def post(self, request: Request, **kwargs: int) -> Response:
        data = parse(ActivityLogSerializer, request.data)
        activity = self.log(_record_id(kwargs), data)
        return Response(RecordActivitySerializer(activity).data, status=status.HTTP_201_CREATED)
