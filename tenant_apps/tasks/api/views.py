from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from shared_apps.users.models import User
from tenant_apps.records.api.filters import TaskFilterSerializer
from tenant_apps.records.api.views import VersionedRecordView
from tenant_apps.tasks import selectors, services
from tenant_apps.tasks.api.serializers import (
    TaskCreateSerializer,
    TaskSerializer,
    TaskUpdateSerializer,
)

PAGE = [OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)]


class TaskCursor(Cursor):
    orderings = ("created_at", "updated_at", "due_at", "title")

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        # due_at is nullable: page over its never-null stand-in (see selectors.task_list)
        ordering = super().get_ordering(request, queryset, view)
        return tuple(field.replace("due_at", "due_sort") for field in ordering)


class OverdueCursor(Cursor):
    ordering = ("due_at", "id")


def _task_response(task_id: int, actor: User, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(TaskSerializer(selectors.task_get(task_id=task_id, actor=actor)).data, status=status_code)


class TaskListView(OrganizationView):
    pagination_class = TaskCursor

    @extend_schema(
        parameters=[TaskFilterSerializer, OpenApiParameter("ordering", str), *PAGE],
        responses={200: TaskSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        filters = parse(TaskFilterSerializer, request.query_params)
        return self.paginated(selectors.task_list(actor=self.member, filters=filters), TaskSerializer)

    @extend_schema(request=TaskCreateSerializer, responses={201: TaskSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        serializer = TaskCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = services.task_create(actor=self.member, **serializer.to_service())
        return _task_response(task.pk, self.member, status.HTTP_201_CREATED)


class TaskOverdueView(OrganizationView):
    """The signed-in member's open tasks past their due date, most overdue first."""

    pagination_class = OverdueCursor

    @extend_schema(parameters=PAGE, responses={200: TaskSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.task_overdue(actor=self.member), TaskSerializer)


class TaskDetailView(VersionedRecordView):
    record_kind = "task"

    @extend_schema(responses={200: TaskSerializer, **ERRORS})
    def get(self, request: Request, task_id: int) -> Response:
        return _task_response(task_id, self.member)

    @extend_schema(request=TaskUpdateSerializer, responses={200: TaskSerializer, **ERRORS})
    def patch(self, request: Request, task_id: int) -> Response:
        serializer = TaskUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.task_update(task_id=task_id, actor=self.member, changes=serializer.to_service())
        return _task_response(task_id, self.member)


class _TaskStatusView(VersionedRecordView):
    record_kind = "task"
    to_status: str

    def post(self, request: Request, task_id: int) -> Response:
        services.task_transition(task_id=task_id, to_status=self.to_status, actor=self.member)
        return _task_response(task_id, self.member)


class TaskCompleteView(_TaskStatusView):
    to_status = "done"

    @extend_schema(request=None, responses={200: TaskSerializer, **ERRORS})
    def post(self, request: Request, task_id: int) -> Response:
        """open -> done: sets completed_at and writes a TASK activity on the record's timeline."""
        return super().post(request, task_id)


class TaskCancelView(_TaskStatusView):
    to_status = "cancelled"

    @extend_schema(request=None, responses={200: TaskSerializer, **ERRORS})
    def post(self, request: Request, task_id: int) -> Response:
        """open -> cancelled."""
        return super().post(request, task_id)


class TaskReopenView(_TaskStatusView):
    to_status = "open"

    @extend_schema(request=None, responses={200: TaskSerializer, **ERRORS})
    def post(self, request: Request, task_id: int) -> Response:
        """done | cancelled -> open: clears completed_at."""
        return super().post(request, task_id)
