"""The audit logs: an organization's on its host (admins, and API keys with the admin scope) and the
platform's on the root host (operators). Both list with filters and cursor pages, and stream as CSV; a CSV
download is itself recorded ("audit_log.exported")."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from django.db.models import QuerySet
from django_tenants.utils import schema_context
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from shared_apps.audit.api.serializers import AuditEventSerializer, AuditFilterSerializer
from shared_apps.audit.models import AuditEvent
from shared_apps.audit.selectors import audit_csv, audit_event_list
from shared_apps.audit.services import audit_record
from shared_apps.http.api import ERRORS, IsMember, IsOperator, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from shared_apps.http.permissions import RolePermission
from shared_apps.http.renderers import JSONRenderer
from shared_apps.http.streaming import CSVRenderer, csv_stream
from shared_apps.organizations.context import current_organization_or_none, organization_context
from shared_apps.users.models import ApiKey, ApiKeyScope, Role

CSV = {(200, "text/csv"): OpenApiTypes.BINARY}


class AuditCursor(Cursor):
    ordering = ("-at", "-id")


class AdminScopeKeys(permissions.BasePermission):
    """Reading the log is managing access: through an API key, only one with the admin scope."""

    message = "Reading the audit log needs a member's own sign-in or an API key with the admin scope."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return not isinstance(request.auth, ApiKey) or request.auth.scope == ApiKeyScope.ADMIN


def _in_schema(events: QuerySet[AuditEvent]) -> Generator[bytes, None, None]:
    """The CSV, read in the schema served now, entered again when the body is read (after the middleware)."""
    organization = current_organization_or_none()
    if organization is None:
        with schema_context("public"):
            yield from audit_csv(events)
    else:
        with organization_context(organization):
            yield from audit_csv(events)


def _answer(view: APIView, request: Request, *, as_csv: bool = False) -> Any:
    """The filtered log as a cursor page, or as CSV (`?format=csv`, `Accept: text/csv`, or `as_csv`)."""
    filters = parse(AuditFilterSerializer, request.query_params)
    events = audit_event_list(filters=filters)  # type: ignore[arg-type]
    if as_csv or request.accepted_renderer.format == "csv":
        shown = {key: str(value) for key, value in filters.items()}
        audit_record("audit_log.exported", request=request, changes={"filters": shown})
        return csv_stream(request, _in_schema(events), "audit-log.csv")
    paginator = AuditCursor()
    page = paginator.paginate_queryset(events, request, view=view)
    return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)


class AuditLogView(OrganizationView):
    renderer_classes = [JSONRenderer, CSVRenderer]
    http_method_names = ["get", "head", "options"]
    permission_classes = [IsMember, RolePermission, AdminScopeKeys]
    read_role = write_role = Role.ADMIN
    resource = "audit-log"
    pagination_class = AuditCursor

    @extend_schema(
        parameters=[AuditFilterSerializer],
        responses={200: AuditEventSerializer(many=True), **CSV, **ERRORS},
    )
    def get(self, request: Request) -> Any:
        """The organization's security log, newest first (admins only)."""
        return _answer(self, request)


class AuditLogExportView(AuditLogView):
    @extend_schema(parameters=[AuditFilterSerializer], responses={**CSV, **ERRORS})
    def get(self, request: Request) -> Any:
        """The log (with the list's filters) as CSV, streamed; the download is recorded."""
        return _answer(self, request, as_csv=True)


class PlatformAuditLogView(APIView):
    renderer_classes = [JSONRenderer, CSVRenderer]
    http_method_names = ["get", "head", "options"]
    permission_classes = [IsOperator]
    pagination_class = AuditCursor

    @extend_schema(
        parameters=[AuditFilterSerializer],
        responses={200: AuditEventSerializer(many=True), **CSV, **ERRORS},
    )
    def get(self, request: Request) -> Any:
        """Operators' actions on the platform (provisioning, suspension, deletion, purges, domains, moves)
        and their sign-ins, newest first."""
        return _answer(self, request)


class PlatformAuditLogExportView(PlatformAuditLogView):
    @extend_schema(parameters=[AuditFilterSerializer], responses={**CSV, **ERRORS})
    def get(self, request: Request) -> Any:
        """The platform's log as CSV, streamed; the download is recorded."""
        return _answer(self, request, as_csv=True)
