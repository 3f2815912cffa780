from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.core.errors import Forbidden
from shared_apps.http.api import OrganizationView, error_responses, parse
from shared_apps.users.models import Role
from tenant_apps.reminders import selectors, services
from tenant_apps.reminders.api.serializers import FollowUpSettingsSerializer, FollowUpSettingsUpdateSerializer

ERRORS = error_responses(400, 401, 403)


class FollowUpSettingsView(OrganizationView):
    @extend_schema(responses={200: FollowUpSettingsSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        """The organization's follow-up automation settings (defaults until an admin changes them)."""
        return Response(FollowUpSettingsSerializer(selectors.follow_up_settings_get()).data)

    @extend_schema(
        request=FollowUpSettingsUpdateSerializer, responses={200: FollowUpSettingsSerializer, **ERRORS}
    )
    def patch(self, request: Request) -> Response:
        """Admins only (403 otherwise)."""
        if self.member.role != Role.ADMIN:  # before parsing: a non-admin learns nothing about the input
            raise Forbidden("Only an admin can change the follow-up settings.")
        changes = parse(FollowUpSettingsUpdateSerializer, request.data)
        services.follow_up_settings_update(actor=self.member, changes=changes, request=request._request)
        return Response(FollowUpSettingsSerializer(selectors.follow_up_settings_get()).data)
