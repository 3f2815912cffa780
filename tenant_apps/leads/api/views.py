from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, ErrorSerializer, OrganizationView, merged_response, parse
from shared_apps.http.pagination import Cursor
from shared_apps.users.models import User
from tenant_apps.activities.models import Note
from tenant_apps.leads import selectors, services
from tenant_apps.leads.api.serializers import (
    LeadCreateSerializer,
    LeadSerializer,
    LeadUpdateSerializer,
    TransitionSerializer,
)
from tenant_apps.leads.exceptions import LeadNotFound
from tenant_apps.leads.models import Lead
from tenant_apps.records.api.filters import LeadFilterSerializer
from tenant_apps.records.api.views import LeadView, RecordNotesView, VersionedRecordView
from tenant_apps.records.selectors import merged_into


class LeadCursor(Cursor):
    orderings = ("created_at", "updated_at", "stage_changed_at", "value", "score", "name")


def _lead_response(lead_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(LeadSerializer(selectors.lead_get(lead_id=lead_id)).data, status=status_code)


def _created_response(lead: Lead, actor: User) -> Response:
    """The new lead as lead_create wrote it (the row as stored: its values are the ones the INSERT sent, and
    nothing else writes to a lead its creation has just made), with its owner when that is the creator.
    Read back, as before, when work its creation queued may have changed it by now (automation), or when
    its owner is another member (their row is not at hand)."""
    if services.created_lead_may_change() or lead.owner_id not in (None, actor.pk):
        return _lead_response(lead.pk, status.HTTP_201_CREATED)
    if lead.owner_id is not None:
        Lead.owner.field.set_cached_value(lead, actor)
    return Response(LeadSerializer(lead).data, status=status.HTTP_201_CREATED)


class LeadListView(OrganizationView):
    pagination_class = LeadCursor

    @extend_schema(
        parameters=[
            LeadFilterSerializer,
            OpenApiParameter("ordering", str),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses={200: LeadSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        filters = parse(LeadFilterSerializer, request.query_params)
        leads = selectors.lead_list(actor=self.member, filters=filters)
        return self.paginated(leads, LeadSerializer)

    @extend_schema(request=LeadCreateSerializer, responses={201: LeadSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        serializer = LeadCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.to_service()
        lead = services.lead_create(
            actor=self.member,
            allow_duplicate=data.pop("allow_duplicate"),
            allow_do_not_contact=data.pop("allow_do_not_contact"),
            **data,
        )
        return _created_response(lead, self.member)


class LeadDetailView(VersionedRecordView, LeadView):
    record_kind = "lead"

    @extend_schema(responses={200: LeadSerializer, 301: ErrorSerializer, **ERRORS})
    def get(self, request: Request, lead_id: int) -> Response:
        """A merged lead answers 301 with the survivor's id."""
        try:
            return _lead_response(lead_id)
        except LeadNotFound:
            # looked up only on a miss: a live lead costs no extra query
            survivor_id = merged_into(model=Lead, record_id=lead_id)
            if survivor_id is None:
                raise
            return merged_response(survivor_id=survivor_id, path=reverse("lead", args=[survivor_id]))

    @extend_schema(request=LeadUpdateSerializer, responses={200: LeadSerializer, **ERRORS})
    def patch(self, request: Request, lead_id: int) -> Response:
        serializer = LeadUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = serializer.to_service()
        services.lead_update(
            lead_id=lead_id,
            actor=self.member,
            allow_duplicate=changes.pop("allow_duplicate", False),
            allow_do_not_contact=changes.pop("allow_do_not_contact", False),
            changes=changes,
        )
        return _lead_response(lead_id)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, lead_id: int) -> Response:
        services.lead_delete(lead_id=lead_id, actor=self.member)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LeadRestoreView(VersionedRecordView, LeadView):
    record_kind = "lead"

    @extend_schema(request=None, responses={200: LeadSerializer, **ERRORS})
    def post(self, request: Request, lead_id: int) -> Response:
        services.lead_restore(lead_id=lead_id, actor=self.member)
        return _lead_response(lead_id)


class LeadPurgeView(VersionedRecordView, LeadView):
    record_kind = "lead"

    @extend_schema(request=None, responses={204: None, **ERRORS})
    def post(self, request: Request, lead_id: int) -> Response:
        services.lead_purge(lead_id=lead_id, actor=self.member, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LeadTransitionView(VersionedRecordView, LeadView):
    record_kind = "lead"
    reads_lead_once = True

    @extend_schema(request=TransitionSerializer, responses={200: LeadSerializer, **ERRORS})
    def post(self, request: Request, lead_id: int) -> Response:
        """One read of the lead: locked with its owner, checked (404 unseen, 403 not a rep's own), moved."""
        with transaction.atomic():
            lead = selectors.lead_for_write(actor=self.member, lead_id=lead_id, lock=True)
            data = parse(TransitionSerializer, request.data)
            lead = services.lead_transition(
                lead_id=lead_id, to_stage=data["stage"], actor=self.member, reason=data["reason"], locked=lead
            )
        return Response(LeadSerializer(lead).data)


STAGE_STAYS = inline_serializer(
    "LeadStageStay",
    fields={
        "stage": serializers.CharField(allow_null=True),
        "entered_at": serializers.DateTimeField(),
        "left_at": serializers.DateTimeField(allow_null=True),
        "duration_seconds": serializers.FloatField(),
        "current": serializers.BooleanField(),
    },
    many=True,
)


class LeadStageHistoryView(LeadView):
    @extend_schema(responses={200: STAGE_STAYS, **ERRORS})
    def get(self, request: Request, lead_id: int) -> Response:
        return Response(selectors.stage_history(lead=selectors.lead_get(lead_id=lead_id)))


class LeadNotesView(LeadView, RecordNotesView):
    """GET lists the lead's notes, newest first; POST adds one (also a NOTE activity)."""

    def get_record(self, record_id: int) -> Lead:
        return selectors.lead_get(lead_id=record_id)

    def add_note(self, record_id: int, body: str) -> Note:
        return services.note_create(lead_id=record_id, actor=self.member, body=body)
