"""Base pieces every API view builds on."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shared_apps.core.errors import etag_matches, etag_of
from shared_apps.http import idempotency
from shared_apps.http.permissions import RolePermission
from shared_apps.http.throttling import PlanRateThrottle
from shared_apps.organizations.context import zone_for
from shared_apps.users.models import Role, User


class IsOperator(permissions.BasePermission):
    """A platform operator (staff user of the public schema) on the root domain."""

    message = "Platform operators only."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_staff
            and getattr(request._request, "tenant", None) is None
        )


class IsMember(permissions.BasePermission):
    """An authenticated member of the organization whose host is being served."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(
            request.user
            and request.user.is_authenticated
            and getattr(request._request, "tenant", None) is not None
        )


def parse(serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> dict[str, Any]:
    """Validate input with a serializer and return its data; errors render as 400 naming each field.
    A serializer class may answer without being built (`when_nothing_asked(data)`, not None): the list
    filters do when no parameter names one of them, which is most list requests."""
    unasked = getattr(serializer_class, "when_nothing_asked", None)
    if unasked is not None and not kwargs:
        known = unasked(data)
        if known is not None:
            return known
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ErrorSerializer(serializers.Serializer):
    """The shape of every error body (see shared_apps.core.errors)."""

    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="validation failures: messages by flat field name, e.g. tags[1], fields.name, "
        "steps[0].subject, custom.<key>, non_field_errors",
    )


def error_responses(*statuses: int) -> dict[int, type[ErrorSerializer]]:
    """The documented error answers of an endpoint (OpenAPI), every one in the ErrorSerializer shape."""
    return dict.fromkeys(statuses, ErrorSerializer)


# What an endpoint can answer besides success: the one table every view module documents its errors with.
ERRORS = error_responses(400, 401, 403, 404, 409)


class _Replay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class OrganizationView(APIView):
    """Base of every organization endpoint: a signed-in member of the organization being served, whose role
    (and API key scope) allows the method (see shared_apps.http.permissions), within the plan's request rate,
    with Idempotency-Key support on POST. Subclasses narrow with `read_role` / `write_role` / `resource`."""

    permission_classes = [IsMember, RolePermission]
    throttle_classes = [PlanRateThrottle]
    read_role: str = Role.VIEWER
    write_role: str = Role.REP
    resource: str | None = None
    # Changes who or what may act for the organization (members, API keys, webhooks): an API key needs the
    # admin scope to write here (shared_apps.http.permissions).
    manages_access: bool = False
    # Response fields shown once (a new key's secret): never kept for an Idempotency-Key replay.
    secret_fields: tuple[str, ...] = ()
    pagination_class: type | None = None
    _idempotency: tuple[str, str] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # the member's own time zone, else the organization's (entered with it): their "today", the dates
        # they send without an offset and every period are reckoned in it
        timezone.activate(zone_for(request.user))
        claimed = idempotency.claim(request)
        if isinstance(claimed, Response):
            raise _Replay(claimed)
        self._idempotency = claimed

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        # every single record answered carries its version, for If-Match on the next write
        data = getattr(response, "data", None)
        if isinstance(data, dict) and data.get("updated_at") and response.status_code < 300:
            updated_at = data["updated_at"]
            if isinstance(updated_at, str):
                updated_at = parse_datetime(updated_at)
            if updated_at is not None:
                response["ETag"] = etag_of(updated_at)
                response = _not_modified_if_current(request, response)
        if self._idempotency is not None and not response.has_header("Idempotent-Replayed"):
            idempotency.remember(self._idempotency, response, secret_fields=self.secret_fields)
            self._idempotency = None
        return response

    @property
    def member(self) -> User:
        """The signed-in member (IsMember has checked there is one)."""
        return self.request.user  # type: ignore[return-value]

    def paginated(self, queryset: Any, serializer_class: type[serializers.Serializer]) -> Any:
        assert self.pagination_class is not None
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)


def _not_modified_if_current(request: Request, response: Any) -> Any:
    """A read whose If-None-Match names the record's current ETag: 304 with no body (the client's copy is
    current)."""
    if_none_match = request.headers.get("If-None-Match")
    if request.method not in ("GET", "HEAD") or not if_none_match:
        return response
    if not etag_matches(if_none_match, response["ETag"]):
        return response
    response.status_code = 304
    response.data = None
    return response


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers instead of silently turning them into text."""

    default_error_messages = {"not_a_string": "Expected a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


def merged_response(*, survivor_id: int, path: str) -> Response:
    """What a merged record's URL answers: 301 to the survivor, with its id in a JSON body."""
    response = Response(
        {
            "code": "merged",
            "message": "This record was merged into another one.",
            "details": {"survivor_id": survivor_id},
        },
        status=301,
    )
    response["Location"] = path
    return response
