"""Members and API keys of an organization (admins manage; every member may list members, e.g. to assign)."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.audit.services import audit_record
from shared_apps.http.api import ERRORS, OrganizationView, StrictCharField, parse
from shared_apps.http.pagination import Cursor
from shared_apps.users import apikeys, invitations, services
from shared_apps.users.api.lifecycle import InvitationSerializer
from shared_apps.users.models import ApiKey, ApiKeyScope, Role, User


class MemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name", "role", "is_active", "date_joined", "last_login"]
        read_only_fields = fields


class MemberInviteSerializer(serializers.Serializer):
    email = StrictCharField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices)
    full_name = StrictCharField(max_length=200, required=False, default="")
    password = serializers.CharField(max_length=200, required=False, write_only=True, trim_whitespace=False)


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    full_name = StrictCharField(max_length=200, required=False)


class MemberCursor(Cursor):
    ordering = ("email",)


class MemberListView(OrganizationView):
    write_role = Role.ADMIN
    manages_access = True
    pagination_class = MemberCursor

    @extend_schema(responses={200: MemberSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        return self.paginated(User.objects.all(), MemberSerializer)

    @extend_schema(
        request=MemberInviteSerializer,
        responses={
            201: PolymorphicProxySerializer(
                "MemberOrInvitation", [InvitationSerializer, MemberSerializer], None
            ),
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        """Invite a member: an email with a single-use link (answered with the invitation). With a `password`
        the member is created at once instead (answered with the member), for scripts."""
        data = parse(MemberInviteSerializer, request.data)
        if data.get("password"):
            member = services.member_invite(**data)
            audit_record("member.invited", request=request, target=member, changes={"role": member.role})
            return Response(MemberSerializer(member).data, status=status.HTTP_201_CREATED)
        data.pop("password", None)
        invitation = invitations.invitation_create(invited_by=self.member, **data)
        audit_record(
            "member.invited",
            request=request,
            target=invitation,
            changes={"email": invitation.email, "role": invitation.role},
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class MemberDetailView(OrganizationView):
    write_role = Role.ADMIN
    manages_access = True

    @extend_schema(request=MemberUpdateSerializer, responses={200: MemberSerializer, **ERRORS})
    def patch(self, request: Request, member_id: int) -> Response:
        member = services.member_update(
            member_id=member_id, request=request._request, **parse(MemberUpdateSerializer, request.data)
        )
        return Response(MemberSerializer(member).data)


class MemberDeactivateView(OrganizationView):
    write_role = Role.ADMIN
    manages_access = True
    active = False

    @extend_schema(request=None, responses={200: MemberSerializer, **ERRORS})
    def post(self, request: Request, member_id: int) -> Response:
        return Response(
            MemberSerializer(
                services.member_set_active(member_id=member_id, active=self.active, request=request._request)
            ).data
        )


class MemberReactivateView(MemberDeactivateView):
    active = True


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "resources",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    scope = serializers.ChoiceField(choices=ApiKeyScope.choices, default=ApiKeyScope.READ)
    resources = serializers.ListField(child=StrictCharField(max_length=40), required=False, max_length=20)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The key itself: shown once, store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyListView(OrganizationView):
    read_role = write_role = Role.ADMIN
    manages_access = True
    secret_fields = ("key",)
    pagination_class = Cursor

    @extend_schema(responses={200: ApiKeySerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        return self.paginated(ApiKey.objects.all(), ApiKeySerializer)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        via_key = request.auth if isinstance(request.auth, ApiKey) else None
        raw, key = apikeys.api_key_create(
            actor=self.member,
            via_key=via_key,
            request=request._request,
            **parse(ApiKeyCreateSerializer, request.data),
        )
        body = dict(ApiKeySerializer(key).data, key=raw)
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(OrganizationView):
    read_role = write_role = Role.ADMIN
    manages_access = True

    @extend_schema(request=None, responses={200: ApiKeySerializer, **ERRORS})
    def post(self, request: Request, key_id: int) -> Response:
        return Response(
            ApiKeySerializer(apikeys.api_key_revoke(key_id=key_id, request=request._request)).data
        )
