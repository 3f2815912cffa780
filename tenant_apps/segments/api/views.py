from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from tenant_apps.segments import selectors, services
from tenant_apps.segments.api.serializers import (
    OWNER_COLUMNS,
    ROW_SERIALIZERS,
    PresetSerializer,
    SegmentFilterSerializer,
    SegmentSerializer,
    SegmentUpdateSerializer,
    SegmentWriteSerializer,
)

PAGE = [OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)]
RESULTS = inline_serializer(
    "SegmentResults",
    {
        "count": serializers.IntegerField(help_text="All matching records, not only this page."),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": PolymorphicProxySerializer(
            component_name="SegmentRow",
            serializers=list(ROW_SERIALIZERS.values()),
            resource_type_field_name=None,
            many=True,
        ),
    },
)


class SegmentCursor(Cursor):
    orderings = ("created_at", "updated_at", "name")


class ResultsCursor(Cursor):
    """Rows in the order the segment or preset defines, unless the client picks one of `orderings`."""

    orderings = ("created_at", "updated_at", "name")

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        if not request.query_params.get("ordering"):
            return tuple(getattr(view, "results_ordering", self.ordering))
        return super().get_ordering(request, queryset, view)


class SegmentListView(OrganizationView):
    pagination_class = SegmentCursor

    @extend_schema(
        parameters=[SegmentFilterSerializer, OpenApiParameter("ordering", str), *PAGE],
        responses={200: SegmentSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """The signed-in member's segments and every shared one."""
        filters = parse(SegmentFilterSerializer, request.query_params)
        segments = selectors.segment_list(actor=self.member, filters=filters)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(segments, request, view=self)
        data = SegmentSerializer(page, many=True, context={"actor": self.member}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=SegmentWriteSerializer, responses={201: SegmentSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        data = parse(SegmentWriteSerializer, request.data)
        segment = services.segment_create(actor=self.member, **data)
        return _segment_response(self.member, segment.pk, status.HTTP_201_CREATED)


def _segment_response(actor: Any, segment_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    segment = selectors.segment_get(actor=actor, segment_id=segment_id)
    return Response(SegmentSerializer(segment, context={"actor": actor}).data, status=status_code)


class SegmentDetailView(OrganizationView):
    @extend_schema(responses={200: SegmentSerializer, **ERRORS})
    def get(self, request: Request, segment_id: int) -> Response:
        return _segment_response(self.member, segment_id)

    @extend_schema(request=SegmentUpdateSerializer, responses={200: SegmentSerializer, **ERRORS})
    def patch(self, request: Request, segment_id: int) -> Response:
        """Owner or admin only; the definition is checked again against the (new) record type."""
        changes = parse(SegmentUpdateSerializer, request.data)
        services.segment_update(segment_id=segment_id, actor=self.member, changes=changes)
        return _segment_response(self.member, segment_id)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, segment_id: int) -> Response:
        services.segment_delete(segment_id=segment_id, actor=self.member)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _ResultsView(OrganizationView):
    pagination_class = ResultsCursor
    results_ordering: tuple[str, ...] = selectors.DEFAULT_ORDERING

    def results(self, queryset: Any, record_type: str) -> Response:
        """A page of rows (only the columns they show) plus the count of every match (one COUNT query)."""
        serializer = ROW_SERIALIZERS[record_type]
        rows = queryset.select_related("owner").only(*serializer.Meta.fields, *OWNER_COLUMNS)
        response = self.paginated(rows, serializer)
        response.data = {"count": queryset.count(), **response.data}
        return response


class SegmentResultsView(_ResultsView):
    @extend_schema(parameters=[OpenApiParameter("ordering", str), *PAGE], responses={200: RESULTS, **ERRORS})
    def get(self, request: Request, segment_id: int) -> Response:
        """The records matching the segment now (relative conditions resolve at read time)."""
        segment = selectors.segment_get(actor=self.member, segment_id=segment_id)
        queryset = selectors.segment_results(segment=segment, actor=self.member)
        return self.results(queryset, segment.record_type)


class PresetListView(OrganizationView):
    @extend_schema(responses={200: PresetSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        """Built-in segments every member has."""
        return Response(PresetSerializer(selectors.PRESETS.values(), many=True).data)


class PresetResultsView(_ResultsView):
    @extend_schema(parameters=[OpenApiParameter("ordering", str), *PAGE], responses={200: RESULTS, **ERRORS})
    def get(self, request: Request, key: str) -> Response:
        preset = selectors.preset_get(key=key)
        self.results_ordering = preset.ordering
        queryset = selectors.preset_results(preset=preset, actor=self.member)
        return self.results(queryset, preset.record_type)
