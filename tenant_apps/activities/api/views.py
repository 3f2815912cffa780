from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from shared_apps.http.api import error_responses, parse
from tenant_apps.activities import selectors, services
from tenant_apps.activities.api.serializers import (
    ActivityFilterSerializer,
    ActivityLogSerializer,
    ActivitySerializer,
    EmailSerializer,
    EmailThreadSerializer,
)
from tenant_apps.leads.selectors import lead_get
from tenant_apps.records.api.views import LeadView, TimelineCursor

ERRORS = error_responses(400, 401, 404)


class LeadActivitiesView(LeadView):
    """A lead's timeline, newest first. Append-only: there is no update or delete."""

    pagination_class = TimelineCursor

    @extend_schema(
        parameters=[
            ActivityFilterSerializer,
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses={200: ActivitySerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, lead_id: int) -> Response:
        filters = parse(ActivityFilterSerializer, request.query_params)
        activities = selectors.activity_list(
            lead=lead_get(lead_id=lead_id), types=filters.get("type"), actor=self.member
        )
        return self.paginated(activities, ActivitySerializer)

    @extend_schema(request=ActivityLogSerializer, responses={201: ActivitySerializer, **ERRORS})
    def post(self, request: Request, lead_id: int) -> Response:
        data = parse(ActivityLogSerializer, request.data)
        activity = services.activity_log(lead_id=lead_id, actor=self.member, **data)
        return Response(ActivitySerializer(activity).data, status=status.HTTP_201_CREATED)


class LeadEmailsView(LeadView):
    @extend_schema(
        request=EmailSerializer, responses={201: ActivitySerializer, 200: ActivitySerializer, **ERRORS}
    )
    def post(self, request: Request, lead_id: int) -> Response:
        """Record an email; 201 when new, 200 with the existing activity when its Message-ID is known."""
        data = parse(EmailSerializer, request.data)
        raw = data.pop("raw", None)
        recorded = services.email_record(lead_id=lead_id, actor=self.member, raw=raw, fields=data)
        return Response(
            ActivitySerializer(recorded.activity).data,
            status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK,
        )


class ThreadPageSerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
    page_size = serializers.IntegerField(
        min_value=1, max_value=selectors.MAX_THREADS_PER_PAGE, default=selectors.THREADS_PER_PAGE
    )


class LeadEmailThreadsView(LeadView):
    @extend_schema(
        parameters=[ThreadPageSerializer],
        responses={
            200: inline_serializer(
                "EmailThreadPage",
                {
                    "next": serializers.CharField(allow_null=True),
                    "previous": serializers.CharField(allow_null=True),
                    "results": EmailThreadSerializer(many=True),
                },
            ),
            **ERRORS,
        },
    )
    def get(self, request: Request, lead_id: int) -> Response:
        """The lead's email threads, latest first, `page_size` (at most 100) a page; each thread shows its
        `count` and its latest 50 messages."""
        paging = parse(ThreadPageSerializer, request.query_params)
        number, size = paging["page"], paging["page_size"]
        threads, more = selectors.email_threads(
            lead=lead_get(lead_id=lead_id), offset=(number - 1) * size, limit=size
        )

        def link(page: int) -> str:
            return replace_query_param(request.build_absolute_uri(), "page", page)

        return Response(
            {
                "next": link(number + 1) if more else None,
                "previous": link(number - 1) if number > 1 else None,
                "results": EmailThreadSerializer(threads, many=True).data,
            }
        )
