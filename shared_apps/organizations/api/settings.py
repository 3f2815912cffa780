"""An organization's own settings, on its host: `GET/PATCH /api/settings/organization/` (any member reads,
admins change; today the time zone, the rest is the operators')."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.core.errors import Forbidden, InvalidInput
from shared_apps.http.api import OrganizationView, error_responses
from shared_apps.organizations.context import current_organization
from shared_apps.organizations.models import Organization, SupportSession
from shared_apps.organizations.support import support_sessions_of
from shared_apps.organizations.timezones import organization_settings_update
from shared_apps.users.models import Role

ERRORS = error_responses(400, 401, 403)


class OrganizationSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["slug", "name", "default_currency", "phone_region", "number_format", "time_zone"]
        read_only_fields = fields


class OrganizationSettingsUpdateSerializer(serializers.Serializer):
    time_zone = serializers.CharField(
        required=False, help_text="IANA zone name (e.g. 'Pacific/Auckland'); days and periods follow it."
    )


class OrganizationSettingsView(OrganizationView):
    @extend_schema(responses={200: OrganizationSettingsSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        """The organization's settings."""
        return Response(OrganizationSettingsSerializer(current_organization()).data)

    @extend_schema(
        request=OrganizationSettingsUpdateSerializer,
        responses={200: OrganizationSettingsSerializer, **ERRORS},
    )
    def patch(self, request: Request) -> Response:
        """Admins only (403 otherwise). Unknown or read-only fields are a 400 naming them."""
        if self.member.role != Role.ADMIN:  # before parsing: a non-admin learns nothing about the input
            raise Forbidden("Only an admin can change the organization's settings.")
        if not isinstance(request.data, dict):
            raise InvalidInput("non_field_errors", "A JSON object is expected.")
        organization = organization_settings_update(
            organization=current_organization(), changes=dict(request.data), request=request
        )
        return Response(OrganizationSettingsSerializer(organization).data)


class SupportAccessSerializer(serializers.ModelSerializer):
    class Meta:
        model = SupportSession
        fields = ["id", "operator_email", "reason", "created_at", "expires_at", "ended_at"]
        read_only_fields = fields


class SupportAccessView(OrganizationView):
    """`GET /api/settings/support-access/`: the platform operators' read-only visits to this organization,
    newest first (admins only)."""

    read_role = Role.ADMIN

    @extend_schema(responses={200: SupportAccessSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        sessions = support_sessions_of(current_organization())
        return Response(SupportAccessSerializer(sessions, many=True).data)
