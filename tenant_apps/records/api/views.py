"""Views every customer record (lead, account, contact, opportunity) shares: list parameters, a merged
record's redirect, If-Match on the writes of one record, the base of the endpoints under a lead, and the
notes and timeline endpoints."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.core.errors import check_if_match
from shared_apps.http.api import ERRORS, OrganizationView, merged_response, parse
from shared_apps.http.pagination import Cursor
from tenant_apps.activities.models import Activity, Note
from tenant_apps.activities.selectors import activity_list
from tenant_apps.leads import selectors as lead_selectors
from tenant_apps.leads.exceptions import LeadNotFound
from tenant_apps.records import visibility
from tenant_apps.records.api.serializers import (
    ActivityFilterSerializer,
    ActivityLogSerializer,
    NoteSerializer,
    RecordActivitySerializer,
)
from tenant_apps.records.selectors import merged_into
from tenant_apps.records.services import MAX_ID

LIST_PARAMETERS = [
    OpenApiParameter("ordering", str),
    OpenApiParameter("cursor", str),
    OpenApiParameter("page_size", int),
]


class NoteCursor(Cursor):
    pass


class TimelineCursor(Cursor):
    page_size = 50


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


class VersionedRecordView(OrganizationView):
    """Base of the endpoints that write the one record their URL names and answer it with its ETag (its
    detail, restore, status and transition endpoints), for every record type: a write sent with If-Match
    is refused (412, with the current ETag) unless the record is still at that version.

    The record is locked and compared after the member's permission checks and before the handler runs,
    inside a transaction the handler's service joins: no other write slips between the check and this one.
    A record the member may not see is left to the handler (its 404), so If-Match reveals nothing."""

    record_kind: str  # a kind of tenant_apps.records.visibility: lead, account, contact, opportunity, task

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method in SAFE_METHODS or "If-Match" not in request.headers:
            return super().dispatch(request, *args, **kwargs)
        with transaction.atomic():
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if_match = request.headers.get("If-Match")
        record_id = _record_id(kwargs)
        if request.method in SAFE_METHODS or if_match is None or not 0 < record_id <= MAX_ID:
            return
        visible = visibility.records_for(self.record_kind, self.member)
        if not visible.filter(pk=record_id).exists():
            return
        locked = visible.model._default_manager.select_for_update().filter(pk=record_id)
        updated_at = locked.values_list("updated_at", flat=True).first()
        if updated_at is not None:
            check_if_match(if_match, updated_at)


class RecordPurgeView(VersionedRecordView):
    """POST removes a deleted record for good (the service allows admins only and records `<kind>.purged` in
    the audit log). Subclasses name the service."""

    def purge(self, record_id: int, request: Request) -> None:
        raise NotImplementedError

    @extend_schema(request=None, responses={204: None, **ERRORS})
    def post(self, request: Request, **kwargs: int) -> Response:
        self.purge(_record_id(kwargs), request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LeadView(OrganizationView):
    """Base of every endpoint under /api/leads/<lead_id>/ (the leads app's and those other apps hang
    there): a lead the member may not see is a 404 (its existence is not revealed), and a rep may change
    only their own leads (403). A view that reads the lead itself for its write (`reads_lead_once`) makes
    these checks in that one read."""

    reads_lead_once = False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        lead_id = kwargs.get("lead_id")
        if lead_id is None or (self.reads_lead_once and request.method not in SAFE_METHODS):
            return
        if not lead_selectors.leads_visible_to(self.member).filter(pk=lead_id).exists():
            raise LeadNotFound(id=lead_id)
        if request.method not in SAFE_METHODS:
            lead_selectors.lead_for_write(actor=self.member, lead_id=lead_id)


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
