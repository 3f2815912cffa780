"""The signed-in user's own two-factor sign-in (`/api/me/two-factor/...` on an organization's host,
`/api/platform/me/two-factor/...` for operators), and the organization's rule (`/api/settings/two-factor/`,
admins). An API key never manages anyone's second factor: these answer only to the user's own session or
token."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shared_apps.http.api import IsMember, OrganizationView, error_responses, parse
from shared_apps.http.throttling import PlanRateThrottle
from shared_apps.mfa import services
from shared_apps.mfa.api.serializers import (
    CodeSerializer,
    DisableSerializer,
    EnrolmentSerializer,
    RecoveryCodesSerializer,
    RequirementSerializer,
    StatusSerializer,
)
from shared_apps.mfa.throttling import code_attempt_wait
from shared_apps.users.models import ApiKey, Role, User

ERRORS = error_responses(400, 401, 403, 409, 429)


class OwnCredentials(permissions.BasePermission):
    """The user themselves (a session or their bearer token), never an API key."""

    message = "Two-factor sign-in is managed by the user themselves, not through an API key."

    def has_permission(self, request: Request, view: Any) -> bool:
        return not isinstance(request.auth, ApiKey)


def code_attempt(request: Request, user: User) -> None:
    wait = code_attempt_wait(request, user)
    if wait is not None:
        raise Throttled(wait=wait)


class _Own(APIView):
    """Members on their organization's host; operators' URLs pass `permission_classes` (IsOperator)."""

    permission_classes = [IsMember, OwnCredentials]
    throttle_classes = [PlanRateThrottle]

    @property
    def user(self) -> User:
        return self.request.user  # type: ignore[return-value]


class TwoFactorStatusView(_Own):
    @extend_schema(responses={200: StatusSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        """Whether two-factor sign-in is on, and how many recovery codes are left."""
        device = services.confirmed_device(self.user)
        return Response(
            {
                "enabled": device is not None,
                "confirmed_at": device.confirmed_at if device else None,
                "recovery_codes_left": services.recovery_codes_left(self.user) if device else 0,
                "enforced": services.two_factor_required(),
            }
        )


class TwoFactorSetupView(_Own):
    @extend_schema(request=None, responses={200: EnrolmentSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Start setting up an authenticator: its secret, otpauth URI and QR code (409 while one is on)."""
        enrolment = services.enrolment_start(user=self.user)
        return Response(EnrolmentSerializer(enrolment).data)


class TwoFactorConfirmView(_Own):
    @extend_schema(request=CodeSerializer, responses={200: RecoveryCodesSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Turn two-factor sign-in on with a code from the new authenticator; the recovery codes are shown
        this once."""
        code = parse(CodeSerializer, request.data)["code"]
        code_attempt(request, self.user)
        codes = services.enrolment_confirm(user=self.user, code=code, request=request)
        return Response({"recovery_codes": codes})


class RecoveryCodesView(_Own):
    @extend_schema(request=CodeSerializer, responses={200: RecoveryCodesSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """New recovery codes for a code from the authenticator; the old ones stop working."""
        code = parse(CodeSerializer, request.data)["code"]
        code_attempt(request, self.user)
        codes = services.recovery_codes_regenerate(user=self.user, code=code, request=request)
        return Response({"recovery_codes": codes})


class TwoFactorDisableView(_Own):
    @extend_schema(request=DisableSerializer, responses={204: None, **ERRORS})
    def post(self, request: Request) -> Response:
        """Turn two-factor sign-in off with the password and a code (409 while the organization requires
        it)."""
        data = parse(DisableSerializer, request.data)
        code_attempt(request, self.user)
        services.two_factor_disable(
            user=self.user, password=data["password"], code=data["code"], request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TwoFactorRequirementView(OrganizationView):
    """Whether the organization requires two-factor sign-in of every member: admins only."""

    read_role = Role.ADMIN
    write_role = Role.ADMIN
    manages_access = True

    @extend_schema(responses={200: RequirementSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        return Response({"require_two_factor": services.organization_requires_two_factor()})

    @extend_schema(request=RequirementSerializer, responses={200: RequirementSerializer, **ERRORS})
    def put(self, request: Request) -> Response:
        """Turning it on deletes the API tokens of members without an authenticator; their sessions reach only
        the set-up page until they have one."""
        required = parse(RequirementSerializer, request.data)["require_two_factor"]
        return Response(
            {
                "require_two_factor": services.organization_require_two_factor(
                    required=required, request=request
                )
            }
        )


class TwoFactorResetView(OrganizationView):
    """An admin removes a member's lost authenticator (and recovery codes)."""

    write_role = Role.ADMIN
    manages_access = True
    resource = "members"

    @extend_schema(request=None, responses={204: None, **ERRORS, **error_responses(404)})
    def post(self, request: Request, member_id: int) -> Response:
        """The member then signs in with the password alone (or sets up a new authenticator first when the
        organization requires it); 409 `two_factor_not_enabled` when they had none."""
        services.two_factor_reset(member_id=member_id, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
