from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from shared_apps.users.models import User
from tenant_apps.sequences import selectors, services
from tenant_apps.sequences.api.serializers import (
    EnrollmentFilterSerializer,
    EnrollmentSerializer,
    EnrollSerializer,
    SequenceSerializer,
    SequenceUpdateSerializer,
    SequenceWriteSerializer,
)

PAGE = [OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)]


class SequenceCursor(Cursor):
    orderings = ("created_at", "updated_at", "name")


class EnrollmentCursor(Cursor):
    ordering = ("-enrolled_at", "-id")


def _sequence_response(sequence_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(
        SequenceSerializer(selectors.sequence_get(sequence_id=sequence_id)).data, status=status_code
    )


def _enrollment_response(enrollment_id: int, actor: User, status_code: int = status.HTTP_200_OK) -> Response:
    enrollment = selectors.enrollment_get(enrollment_id=enrollment_id, actor=actor)
    return Response(EnrollmentSerializer(enrollment).data, status=status_code)


class SequenceListView(OrganizationView):
    pagination_class = SequenceCursor

    @extend_schema(
        parameters=[OpenApiParameter("ordering", str), *PAGE],
        responses={200: SequenceSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.sequence_list(), SequenceSerializer)

    @extend_schema(request=SequenceWriteSerializer, responses={201: SequenceSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Create a sequence; a template that does not compile is a 400 naming its step."""
        serializer = SequenceWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sequence = services.sequence_create(actor=self.member, **serializer.to_service())
        return _sequence_response(sequence.pk, status.HTTP_201_CREATED)


class SequenceDetailView(OrganizationView):
    @extend_schema(responses={200: SequenceSerializer, **ERRORS})
    def get(self, request: Request, sequence_id: int) -> Response:
        return _sequence_response(sequence_id)

    @extend_schema(request=SequenceUpdateSerializer, responses={200: SequenceSerializer, **ERRORS})
    def patch(self, request: Request, sequence_id: int) -> Response:
        """`steps` replaces the whole list (rewritten in place by position: running enrollments go on)."""
        serializer = SequenceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.sequence_update(sequence_id=sequence_id, actor=self.member, changes=serializer.to_service())
        return _sequence_response(sequence_id)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, sequence_id: int) -> Response:
        """Stops its running enrollments; what was sent stays on the leads' timelines."""
        services.sequence_delete(sequence_id=sequence_id, actor=self.member)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SequenceEnrollView(OrganizationView):
    @extend_schema(request=EnrollSerializer, responses={201: EnrollmentSerializer, **ERRORS})
    def post(self, request: Request, sequence_id: int) -> Response:
        """Enroll a lead: its first step goes out after the step's delay. 409 when the lead is won or lost,
        already going through this sequence, or the sequence has no steps."""
        data = parse(EnrollSerializer, request.data)
        enrollment = services.sequence_enroll(
            sequence_id=sequence_id, lead_id=data["lead"], actor=self.member
        )
        return _enrollment_response(enrollment.pk, self.member, status.HTTP_201_CREATED)


class SequenceEnrollmentsView(OrganizationView):
    pagination_class = EnrollmentCursor

    @extend_schema(
        parameters=[EnrollmentFilterSerializer, *PAGE],
        responses={200: EnrollmentSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, sequence_id: int) -> Response:
        """The sequence's enrollments, newest first, with what each was sent."""
        filters = parse(EnrollmentFilterSerializer, request.query_params)
        enrollments = selectors.enrollment_list(sequence_id=sequence_id, filters=filters, actor=self.member)
        return self.paginated(enrollments, EnrollmentSerializer)


class EnrollmentUnenrollView(OrganizationView):
    @extend_schema(request=None, responses={200: EnrollmentSerializer, **ERRORS})
    def post(self, request: Request, enrollment_id: int) -> Response:
        """Stop a running enrollment: nothing more is sent. 409 when it already finished."""
        services.sequence_unenroll(enrollment_id=enrollment_id, actor=self.member)
        return _enrollment_response(enrollment_id, self.member)
