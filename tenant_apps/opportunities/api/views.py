from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.core.errors import Forbidden
from shared_apps.http.api import ERRORS, ErrorSerializer, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from tenant_apps.activities.models import Activity, Note
from tenant_apps.opportunities import selectors, services
from tenant_apps.opportunities.api.serializers import (
    OpportunityCreateSerializer,
    OpportunitySerializer,
    OpportunityStageSerializer,
    OpportunityUpdateSerializer,
    StageHistoryEntrySerializer,
)
from tenant_apps.opportunities.exceptions import OpportunityNotFound
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.records import visibility
from tenant_apps.records.api.filters import OpportunityFilterSerializer
from tenant_apps.records.api.views import (
    LIST_PARAMETERS,
    RecordActivitiesView,
    RecordNotesView,
    VersionedRecordView,
    redirect_if_merged,
)


class OpportunityCursor(Cursor):
    orderings = ("created_at", "updated_at", "name", "amount", "probability")


def _opportunity_response(opportunity_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    opportunity = selectors.opportunity_get(opportunity_id=opportunity_id)
    return Response(OpportunitySerializer(opportunity).data, status=status_code)


class _VisibleOpportunity:
    """A hidden opportunity is a 404 under /api/opportunities/<id>/; a rep changes only their own (403)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        opportunity_id = kwargs.get("opportunity_id")
        if opportunity_id is None:
            return
        member: Any = request.user  # IsMember has run: a signed-in member
        visible = (
            visibility.opportunities_for(member).filter(pk=opportunity_id).only("pk", "owner_id").first()
        )
        if visible is None:
            raise OpportunityNotFound(id=opportunity_id)
        if request.method not in SAFE_METHODS and not visibility.can_change(member, visible):
            raise Forbidden("Reps change only the opportunities they own.", code="not_your_opportunity")


class OpportunityListView(OrganizationView):
    pagination_class = OpportunityCursor

    @extend_schema(
        parameters=[OpportunityFilterSerializer, *LIST_PARAMETERS],
        responses={200: OpportunitySerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Live opportunities, newest first unless ?ordering= says otherwise; cursor paginated."""
        filters = parse(OpportunityFilterSerializer, request.query_params)
        opportunities = selectors.opportunity_list(actor=self.member, filters=filters)
        return self.paginated(opportunities, OpportunitySerializer)

    @extend_schema(request=OpportunityCreateSerializer, responses={201: OpportunitySerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Create an opportunity on a live account, in an open stage."""
        serializer = OpportunityCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        opportunity = services.opportunity_create(actor=self.member, **serializer.to_service())
        return _opportunity_response(opportunity.pk, status.HTTP_201_CREATED)


class OpportunityDetailView(_VisibleOpportunity, VersionedRecordView):
    record_kind = "opportunity"

    @extend_schema(responses={200: OpportunitySerializer, 301: ErrorSerializer, **ERRORS})
    def get(self, request: Request, opportunity_id: int) -> Response:
        """A merged opportunity answers 301 with the survivor's id."""
        opportunity = selectors.opportunity_get(opportunity_id=opportunity_id, include_merged=True)
        return redirect_if_merged(opportunity, "opportunity") or Response(
            OpportunitySerializer(opportunity).data
        )

    @extend_schema(request=OpportunityUpdateSerializer, responses={200: OpportunitySerializer, **ERRORS})
    def patch(self, request: Request, opportunity_id: int) -> Response:
        """Change fields; the stage changes only through the stage endpoint (400 here)."""
        serializer = OpportunityUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.opportunity_update(
            opportunity_id=opportunity_id, actor=self.member, changes=serializer.to_service()
        )
        return _opportunity_response(opportunity_id)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, opportunity_id: int) -> Response:
        services.opportunity_delete(opportunity_id=opportunity_id, actor=self.member)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OpportunityRestoreView(_VisibleOpportunity, VersionedRecordView):
    record_kind = "opportunity"

    @extend_schema(request=None, responses={200: OpportunitySerializer, **ERRORS})
    def post(self, request: Request, opportunity_id: int) -> Response:
        services.opportunity_restore(opportunity_id=opportunity_id, actor=self.member)
        return _opportunity_response(opportunity_id)


class OpportunityStageView(_VisibleOpportunity, VersionedRecordView):
    record_kind = "opportunity"

    @extend_schema(request=OpportunityStageSerializer, responses={200: OpportunitySerializer, **ERRORS})
    def post(self, request: Request, opportunity_id: int) -> Response:
        """Move an open opportunity to another stage of its pipeline (id or key); won and lost stages are
        final (409 after); a lost stage needs `lost_reason` (400 naming it)."""
        data = parse(OpportunityStageSerializer, request.data)
        services.opportunity_transition(
            opportunity_id=opportunity_id,
            stage=data["stage"],
            actor=self.member,
            reason=data["reason"],
            lost_reason=data.get("lost_reason"),
        )
        return _opportunity_response(opportunity_id)


class OpportunityStageHistoryView(_VisibleOpportunity, OrganizationView):
    @extend_schema(responses={200: StageHistoryEntrySerializer(many=True), **ERRORS})
    def get(self, request: Request, opportunity_id: int) -> Response:
        """Every stage change, oldest first, naming stages by id with their current names."""
        opportunity = selectors.opportunity_get(opportunity_id=opportunity_id)
        history = selectors.opportunity_stage_history(opportunity=opportunity)
        return Response(StageHistoryEntrySerializer(history, many=True).data)


class OpportunityNotesView(_VisibleOpportunity, RecordNotesView):
    def get_record(self, record_id: int) -> Opportunity:
        return selectors.opportunity_get(opportunity_id=record_id)

    def add_note(self, record_id: int, body: str) -> Note:
        return services.opportunity_note_add(opportunity_id=record_id, actor=self.member, body=body)


class OpportunityActivitiesView(_VisibleOpportunity, RecordActivitiesView):
    def get_record(self, record_id: int) -> Opportunity:
        return selectors.opportunity_get(opportunity_id=record_id)

    def log(self, record_id: int, data: dict[str, Any]) -> Activity:
        return services.opportunity_activity_log(opportunity_id=record_id, actor=self.member, **data)
