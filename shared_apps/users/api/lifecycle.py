"""A member's account lifecycle over the API: invitations (admins), password reset and change, email change,
and one's own sessions and tokens (admins may end any member's)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shared_apps.audit.services import audit_record
from shared_apps.http.api import ERRORS, OrganizationView, StrictCharField, error_responses, parse
from shared_apps.http.pagination import Cursor
from shared_apps.http.throttling import SignInRateThrottle, sign_in_wait
from shared_apps.users import email_change, invitations, passwords, sessions
from shared_apps.users.models import ApiKey, AuthToken, Invitation, Role, UserSession


class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    invited_by = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "full_name",
            "status",
            "invited_by",
            "created_at",
            "sent_at",
            "expires_at",
            "accepted_at",
            "revoked_at",
        ]
        read_only_fields = fields

    def get_status(self, invitation: Invitation) -> str:
        return invitation.status()

    def get_invited_by(self, invitation: Invitation) -> str | None:
        return invitation.invited_by.email if invitation.invited_by else None


INVITATION_STATUSES = ("pending", "accepted", "revoked", "expired")


class InvitationListView(OrganizationView):
    read_role = write_role = Role.ADMIN
    manages_access = True
    pagination_class = Cursor

    @extend_schema(responses={200: InvitationSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        """Invitations, newest first; `?status=pending|accepted|revoked|expired` narrows."""
        queryset = Invitation.objects.select_related("invited_by")
        wanted = request.query_params.get("status")
        if wanted is not None:
            if wanted not in INVITATION_STATUSES:
                raise serializers.ValidationError({"status": [f"One of {', '.join(INVITATION_STATUSES)}."]})
            now = timezone.now()
            open_ = {"accepted_at__isnull": True, "revoked_at__isnull": True}
            queryset = {
                "accepted": queryset.filter(accepted_at__isnull=False),
                "revoked": queryset.filter(accepted_at__isnull=True, revoked_at__isnull=False),
                "expired": queryset.filter(**open_, expires_at__lte=now),
                "pending": queryset.filter(**open_, expires_at__gt=now),
            }[wanted]
        return self.paginated(queryset, InvitationSerializer)


class InvitationResendView(OrganizationView):
    read_role = write_role = Role.ADMIN
    manages_access = True

    @extend_schema(
        request=None, responses={200: InvitationSerializer, **error_responses(400, 401, 403, 404, 409, 502)}
    )
    def post(self, request: Request, invitation_id: int) -> Response:
        invitation = invitations.invitation_resend(invitation_id=invitation_id, actor=self.member)
        audit_record(
            "invitation.resent", request=request, target=invitation, changes={"email": invitation.email}
        )
        return Response(InvitationSerializer(invitation).data)


class InvitationRevokeView(OrganizationView):
    read_role = write_role = Role.ADMIN
    manages_access = True

    @extend_schema(request=None, responses={200: InvitationSerializer, **ERRORS})
    def post(self, request: Request, invitation_id: int) -> Response:
        invitation = invitations.invitation_revoke(invitation_id=invitation_id)
        audit_record(
            "invitation.revoked", request=request, target=invitation, changes={"email": invitation.email}
        )
        return Response(InvitationSerializer(invitation).data)


class MemberSessionsEndView(OrganizationView):
    """An admin ends every session and token of a member (who stays a member and may sign in again)."""

    read_role = write_role = Role.ADMIN
    manages_access = True

    @extend_schema(request=None, responses={200: None, **ERRORS})
    def post(self, request: Request, member_id: int) -> Response:
        user, ended, tokens = sessions.member_sessions_end(member_id=member_id)
        audit_record(
            "session.ended", request=request, target=user, changes={"sessions": ended, "tokens": tokens}
        )
        return Response({"sessions_ended": ended, "tokens_revoked": tokens})


# --- password reset (anonymous) -----------------------------------------------------------------------------


class PasswordResetSerializer(serializers.Serializer):
    email = StrictCharField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=40)
    token = StrictCharField(max_length=100)
    new_password = serializers.CharField(max_length=200, trim_whitespace=False)


RESET_ANSWER = {
    "code": "reset_requested",
    "message": "If this email belongs to an active member, a link to reset the password is on its way.",
}


class PasswordResetView(APIView):
    """Ask for a password reset link. The answer is the same for every email (no account enumeration);
    attempts count with the sign-in attempts (per address and email, and per account)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [SignInRateThrottle]

    @extend_schema(
        request=PasswordResetSerializer, responses={202: None, **error_responses(400, 429)}, auth=[]
    )
    def post(self, request: Request) -> Response:
        data = parse(PasswordResetSerializer, request.data)
        passwords.password_reset_ask(request=request, email=data["email"])
        return Response(RESET_ANSWER, status=status.HTTP_202_ACCEPTED)


class ResetLinkRateThrottle(SignInRateThrottle):
    """Attempts with a reset link count per address and link owner (`uid`), apart from sign-in attempts, so
    one client's tries cannot use up every member's."""

    def allow_request(self, request: Request, view: Any) -> bool:
        uid = request.data.get("uid", "") if hasattr(request.data, "get") else ""
        self._wait = sign_in_wait(request, f"password-reset:{uid if isinstance(uid, str) else ''}")
        return self._wait is None


class PasswordResetConfirmView(APIView):
    """Set a new password with the `uid` and `token` of a reset link: every session and token of the member
    ends, and the link stops working."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ResetLinkRateThrottle]

    @extend_schema(
        request=PasswordResetConfirmSerializer, responses={204: None, **error_responses(400, 429)}, auth=[]
    )
    def post(self, request: Request) -> Response:
        data = parse(PasswordResetConfirmSerializer, request.data)
        user = passwords.password_reset_confirm(
            uidb64=data["uid"], token=data["token"], new_password=data["new_password"]
        )
        audit_record("password.reset", request=request, actor=user, target=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- the member's own account: password, email, sessions, tokens -----------------------------------------


class MemberCredentialsOnly(permissions.BasePermission):
    """A member's own password, email, sessions and tokens are theirs to manage with their own sign-in (a
    token or the browser session), not through an integration's API key."""

    message = "Manage your account with your own sign-in, not an API key."

    def has_permission(self, request: Request, view: Any) -> bool:
        return not isinstance(request.auth, ApiKey)


class OwnAccountView(OrganizationView):
    permission_classes = [*OrganizationView.permission_classes, MemberCredentialsOnly]
    write_role = Role.VIEWER  # every member manages their own account

    def current_session_key(self) -> str | None:
        """The browser session this request came with, when it signed in through it (not a token)."""
        if isinstance(self.request.auth, AuthToken):
            return None
        return getattr(self.request._request, "session", None) and self.request._request.session.session_key


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=200, trim_whitespace=False)
    new_password = serializers.CharField(max_length=200, trim_whitespace=False)


class PasswordChangeView(OwnAccountView):
    @extend_schema(request=PasswordChangeSerializer, responses={204: None, **ERRORS})
    def post(self, request: Request) -> Response:
        """Change your password: every token (the one used included) is revoked and every other session ends;
        a browser session making the change stays signed in."""
        data = parse(PasswordChangeSerializer, request.data)
        user = passwords.password_change(
            user=self.member, keep_session_key=self.current_session_key(), **data
        )
        if self.current_session_key():
            sessions.session_stay_signed_in(request=request._request, user=user)
        audit_record("password.changed", request=request, target=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EmailChangeSerializer(serializers.Serializer):
    email = StrictCharField(max_length=254)


class EmailChangeView(OwnAccountView):
    @extend_schema(
        request=EmailChangeSerializer, responses={202: None, **error_responses(400, 401, 403, 502)}
    )
    def post(self, request: Request) -> Response:
        """Send a confirmation link to the new address; the email changes when it is followed. An email
        another member has is a 400 naming the field."""
        new_email = email_change.email_change_request(
            user=self.member, new_email=parse(EmailChangeSerializer, request.data)["email"]
        )
        audit_record("email.change_requested", request=request, target=self.member, changes={"to": new_email})
        return Response(
            {"code": "confirmation_sent", "message": f"A confirmation link was sent to {new_email}."},
            status=status.HTTP_202_ACCEPTED,
        )


class SessionSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = UserSession
        fields = ["id", "ip", "user_agent", "created_at", "last_seen_at", "current"]
        read_only_fields = fields

    def get_current(self, row: UserSession) -> bool:
        return row.session_key == self.context.get("current")


class TokenInfoSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = AuthToken
        fields = ["id", "created_at", "expires_at", "last_used_at", "current"]
        read_only_fields = fields

    def get_current(self, token: AuthToken) -> bool:
        return token.pk == self.context.get("current")


class MeSessionsView(OwnAccountView):
    @extend_schema(responses={200: SessionSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        """Your browser sessions (`current`: the one this request came with)."""
        rows = sessions.sessions_live(self.member)
        return Response(
            SessionSerializer(rows, many=True, context={"current": self.current_session_key()}).data
        )

    @extend_schema(request=None, responses={200: None, **ERRORS}, operation_id="me_sessions_end_others")
    def delete(self, request: Request) -> Response:
        """End every session of yours but the current one."""
        ended = sessions.sessions_end_others(user=self.member, keep_session_key=self.current_session_key())
        if ended:
            audit_record("session.ended", request=request, target=self.member, changes={"sessions": ended})
        return Response({"sessions_ended": ended})


class MeSessionView(OwnAccountView):
    @extend_schema(request=None, responses={204: None, **ERRORS})
    def delete(self, request: Request, session_id: int) -> Response:
        row = sessions.session_end(user=self.member, session_id=session_id)
        audit_record("session.ended", request=request, target=self.member, changes={"session": row.pk})
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeTokensView(OwnAccountView):
    def current_token(self) -> AuthToken | None:
        return self.request.auth if isinstance(self.request.auth, AuthToken) else None

    @extend_schema(responses={200: TokenInfoSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        """Your API tokens (never the token itself; `current`: the one this request came with)."""
        current = self.current_token()
        return Response(
            TokenInfoSerializer(
                sessions.tokens_of(self.member),
                many=True,
                context={"current": current.pk if current else None},
            ).data
        )

    @extend_schema(request=None, responses={200: None, **ERRORS}, operation_id="me_tokens_revoke_others")
    def delete(self, request: Request) -> Response:
        """Revoke every token of yours but the one this request came with."""
        revoked = sessions.tokens_revoke_others(user=self.member, keep=self.current_token())
        if revoked:
            audit_record("token.revoked", request=request, target=self.member, changes={"tokens": revoked})
        return Response({"tokens_revoked": revoked})


class MeTokenView(OwnAccountView):
    @extend_schema(request=None, responses={204: None, **ERRORS})
    def delete(self, request: Request, token_id: int) -> Response:
        sessions.token_revoke_own(user=self.member, token_id=token_id)
        audit_record("token.revoked", request=request, target=self.member, changes={"token": token_id})
        return Response(status=status.HTTP_204_NO_CONTENT)
