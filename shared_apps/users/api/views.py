from django.contrib.auth import logout
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shared_apps.core.errors import Forbidden, InvalidInput
from shared_apps.http.api import ErrorSerializer, IsMember, error_responses, parse
from shared_apps.http.throttling import SignInRateThrottle
from shared_apps.users import services
from shared_apps.users.api.serializers import (
    CredentialsSerializer,
    MeSerializer,
    MeUpdateSerializer,
    TokenSerializer,
)
from shared_apps.users.models import ApiKey, AuthToken
from shared_apps.users.profile import member_time_zone_set

ERRORS = error_responses(400, 401, 403)


class TokenView(APIView):
    """Sign in with email and password (and `otp` or `recovery_code` for an account with two-factor sign-in:
    401 `otp_required` without one); the token is shown once."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [SignInRateThrottle]
    require_staff = False

    @extend_schema(request=CredentialsSerializer, responses={200: TokenSerializer, **ERRORS}, auth=[])
    def post(self, request: Request) -> Response:
        data = parse(CredentialsSerializer, request.data)
        raw, token = services.token_issue(**data, require_staff=self.require_staff, request=request._request)
        return Response({"token": raw, "expires_at": token.expires_at})


class PlatformTokenView(TokenView):
    """Operators sign in on the root domain."""

    require_staff = True


class SignOutView(APIView):
    permission_classes = [IsMember]

    @extend_schema(request=None, responses={204: None, 401: ErrorSerializer})
    def post(self, request: Request) -> Response:
        """Revoke the bearer token used, or end the browser session; an API key is revoked by an admin."""
        if isinstance(request.auth, AuthToken):
            services.token_revoke(token=request.auth)
        elif isinstance(request.auth, ApiKey):
            raise InvalidInput("Authorization", "API keys are revoked at /api/api-keys/<id>/revoke/.")
        else:
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses={200: MeSerializer, 401: ErrorSerializer})
    def get(self, request: Request) -> Response:
        organization = request._request.tenant  # type: ignore[attr-defined]
        return Response(MeSerializer(request.user, context={"organization": organization}).data)

    @extend_schema(request=MeUpdateSerializer, responses={200: MeSerializer, **ERRORS})
    def patch(self, request: Request) -> Response:
        """The member's own profile settings: `time_zone` (blank: the organization's). Not through an API key:
        a key acts for its member on records, not on the member's profile."""
        if isinstance(request.auth, ApiKey):
            raise Forbidden("An API key cannot change its member's profile.", code="api_key_not_allowed")
        data = parse(MeUpdateSerializer, request.data)
        user = member_time_zone_set(user=request.user, time_zone=data["time_zone"])  # type: ignore[arg-type]
        organization = request._request.tenant  # type: ignore[attr-defined]
        return Response(MeSerializer(user, context={"organization": organization}).data)
