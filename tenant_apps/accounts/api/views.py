from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, ErrorSerializer, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from tenant_apps.accounts import selectors, services
from tenant_apps.accounts.api.serializers import (
    AccountCreateSerializer,
    AccountSerializer,
    AccountStatusChangeSerializer,
    AccountStatusSerializer,
    AccountUpdateSerializer,
)
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import Activity, Note
from tenant_apps.records.api.filters import AccountFilterSerializer
from tenant_apps.records.api.views import (
    LIST_PARAMETERS,
    RecordActivitiesView,
    RecordNotesView,
    RecordPurgeView,
    VersionedRecordView,
    redirect_if_merged,
)


class AccountCursor(Cursor):
    orderings = ("created_at", "updated_at", "name")


class StatusHistoryCursor(Cursor):
    ordering = ("-at", "-id")


def _account_response(account_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(AccountSerializer(selectors.account_get(account_id=account_id)).data, status=status_code)


class AccountListView(OrganizationView):
    pagination_class = AccountCursor

    @extend_schema(
        parameters=[AccountFilterSerializer, *LIST_PARAMETERS],
        responses={200: AccountSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Live accounts, newest first unless ?ordering= says otherwise; cursor paginated."""
        filters = parse(AccountFilterSerializer, request.query_params)
        return self.paginated(selectors.account_list(actor=self.member, filters=filters), AccountSerializer)

    @extend_schema(request=AccountCreateSerializer, responses={201: AccountSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Create an account; the domain is normalized (acme.com)."""
        serializer = AccountCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = services.account_create(actor=self.member, **serializer.to_service())
        return _account_response(account.pk, status.HTTP_201_CREATED)


class AccountDetailView(VersionedRecordView):
    record_kind = "account"

    @extend_schema(responses={200: AccountSerializer, 301: ErrorSerializer, **ERRORS})
    def get(self, request: Request, account_id: int) -> Response:
        """A merged account answers 301 with the survivor's id."""
        account = selectors.account_get(account_id=account_id, include_merged=True)
        return redirect_if_merged(account, "account") or Response(AccountSerializer(account).data)

    @extend_schema(request=AccountUpdateSerializer, responses={200: AccountSerializer, **ERRORS})
    def patch(self, request: Request, account_id: int) -> Response:
        """Change fields; the status changes only through the status endpoint (400 here)."""
        serializer = AccountUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.account_update(account_id=account_id, actor=self.member, changes=serializer.to_service())
        return _account_response(account_id)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, account_id: int) -> Response:
        services.account_delete(account_id=account_id, actor=self.member)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountRestoreView(VersionedRecordView):
    record_kind = "account"

    @extend_schema(request=None, responses={200: AccountSerializer, **ERRORS})
    def post(self, request: Request, account_id: int) -> Response:
        services.account_restore(account_id=account_id, actor=self.member)
        return _account_response(account_id)


class AccountStatusView(VersionedRecordView):
    record_kind = "account"

    @extend_schema(request=AccountStatusSerializer, responses={200: AccountSerializer, **ERRORS})
    def post(self, request: Request, account_id: int) -> Response:
        """Change the lifecycle status; the change is kept in the status history and on the timeline."""
        data = parse(AccountStatusSerializer, request.data)
        services.account_set_status(
            account_id=account_id, status=data["status"], actor=self.member, reason=data["reason"]
        )
        return _account_response(account_id)


class AccountStatusHistoryView(OrganizationView):
    pagination_class = StatusHistoryCursor

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)],
        responses={200: AccountStatusChangeSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, account_id: int) -> Response:
        """The account's status changes, newest first."""
        history = selectors.account_status_history(account=selectors.account_get(account_id=account_id))
        return self.paginated(history, AccountStatusChangeSerializer)


class AccountPurgeView(RecordPurgeView):
    """Remove a deleted account for good (refused while deals are on it). Admins only."""

    record_kind = "account"

    def purge(self, record_id: int, request: Request) -> None:
        services.account_purge(account_id=record_id, actor=self.member, request=request._request)


class AccountNotesView(RecordNotesView):
    def get_record(self, record_id: int) -> Account:
        return selectors.account_get(account_id=record_id)

    def add_note(self, record_id: int, body: str) -> Note:
        return services.account_note_add(account_id=record_id, actor=self.member, body=body)


class AccountActivitiesView(RecordActivitiesView):
    """The account's timeline rolls up its contacts', opportunities' and converted leads' activities."""

    def get_record(self, record_id: int) -> Account:
        return selectors.account_get(account_id=record_id)

    def log(self, record_id: int, data: dict[str, Any]) -> Activity:
        return services.account_activity_log(account_id=record_id, actor=self.member, **data)
