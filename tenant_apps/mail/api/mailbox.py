"""GET/PUT/DELETE /api/me/mailbox/: the caller's own IMAP mailbox (tenant_apps.mail.imap), synced every few
minutes onto the timelines. The password is write-only. Not through an API key: a key acts for its member
on records, not on the member's own accounts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.core.errors import Forbidden
from shared_apps.http.api import OrganizationView, error_responses, parse
from shared_apps.users.models import ApiKey
from tenant_apps.mail import imap
from tenant_apps.mail.models import ImapMailbox, ImapSecurity
from tenant_apps.records.api.serializers import StrictSerializer

ERRORS = error_responses(400, 401, 403)


class MailboxConnectSerializer(StrictSerializer):
    host = serializers.CharField(max_length=253)
    port = serializers.IntegerField(min_value=1, max_value=65535, required=False)
    security = serializers.ChoiceField(choices=ImapSecurity.choices, required=False)
    username = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=500, write_only=True, trim_whitespace=False)
    folder = serializers.CharField(max_length=200, required=False)


class MailboxSerializer(serializers.Serializer):
    connected = serializers.BooleanField()
    host = serializers.CharField(required=False)
    port = serializers.IntegerField(required=False)
    security = serializers.CharField(required=False)
    username = serializers.CharField(required=False)
    folder = serializers.CharField(required=False)
    last_synced_at = serializers.DateTimeField(allow_null=True, required=False)
    last_error = serializers.CharField(required=False)
    messages_synced = serializers.IntegerField(required=False)


def _data(mailbox: ImapMailbox | None) -> dict[str, Any]:
    if mailbox is None:
        return {"connected": False}
    fields = (
        "host",
        "port",
        "security",
        "username",
        "folder",
        "last_synced_at",
        "last_error",
        "messages_synced",
    )
    return {"connected": True, **{field: getattr(mailbox, field) for field in fields}}


class MailboxView(OrganizationView):
    resource = "email"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if isinstance(request.auth, ApiKey):
            raise Forbidden("A member connects their own mailbox, not an API key.")

    @extend_schema(responses={200: MailboxSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        """The caller's mailbox and how its last sync went (never the password)."""
        return Response(MailboxSerializer(_data(ImapMailbox.objects.filter(user=self.member).first())).data)

    @extend_schema(request=MailboxConnectSerializer, responses={200: MailboxSerializer, **ERRORS})
    def put(self, request: Request) -> Response:
        """Connect (or replace) the caller's mailbox: tried with a real login first; a failure is a 400 whose
        `code` names the step (imap_auth_failed, imap_tls_failed, imap_connect_failed, imap_folder_missing,
        imap_host_private, ...)."""
        changes = parse(MailboxConnectSerializer, request.data)
        mailbox = imap.imap_mailbox_connect(actor=self.member, changes=changes)
        return Response(MailboxSerializer(_data(mailbox)).data)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request) -> Response:
        """Disconnect it (what it synced stays on the timelines)."""
        imap.imap_mailbox_disconnect(actor=self.member)
        return Response(status=status.HTTP_204_NO_CONTENT)
