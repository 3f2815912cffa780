from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, ErrorSerializer, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from tenant_apps.activities.models import Activity, Note
from tenant_apps.contacts import selectors, services
from tenant_apps.contacts.api.serializers import (
    ContactSerializer,
    ContactUpdateSerializer,
    ContactWriteSerializer,
)
from tenant_apps.contacts.models import Contact
from tenant_apps.records.api.filters import ContactFilterSerializer
from tenant_apps.records.api.views import (
    LIST_PARAMETERS,
    RecordActivitiesView,
    RecordNotesView,
    RecordPurgeView,
    VersionedRecordView,
    redirect_if_merged,
)


class ContactCursor(Cursor):
    orderings = ("created_at", "updated_at", "name")


def _contact_response(contact_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(ContactSerializer(selectors.contact_get(contact_id=contact_id)).data, status=status_code)


class ContactListView(OrganizationView):
    pagination_class = ContactCursor

    @extend_schema(
        parameters=[ContactFilterSerializer, *LIST_PARAMETERS],
        responses={200: ContactSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Live contacts, newest first unless ?ordering= says otherwise; cursor paginated."""
        filters = parse(ContactFilterSerializer, request.query_params)
        return self.paginated(selectors.contact_list(actor=self.member, filters=filters), ContactSerializer)

    @extend_schema(request=ContactWriteSerializer, responses={201: ContactSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Create a contact, at a live account or none."""
        serializer = ContactWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.to_service()
        contact = services.contact_create(
            actor=self.member,
            allow_duplicate=data.pop("allow_duplicate", False),
            allow_do_not_contact=data.pop("allow_do_not_contact", False),
            **data,
        )
        return _contact_response(contact.pk, status.HTTP_201_CREATED)


class ContactDetailView(VersionedRecordView):
    record_kind = "contact"

    @extend_schema(responses={200: ContactSerializer, 301: ErrorSerializer, **ERRORS})
    def get(self, request: Request, contact_id: int) -> Response:
        """A merged contact answers 301 with the survivor's id."""
        contact = selectors.contact_get(contact_id=contact_id, include_merged=True)
        return redirect_if_merged(contact, "contact") or Response(ContactSerializer(contact).data)

    @extend_schema(request=ContactUpdateSerializer, responses={200: ContactSerializer, **ERRORS})
    def patch(self, request: Request, contact_id: int) -> Response:
        serializer = ContactUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = serializer.to_service()
        services.contact_update(
            contact_id=contact_id,
            actor=self.member,
            allow_duplicate=changes.pop("allow_duplicate", False),
            allow_do_not_contact=changes.pop("allow_do_not_contact", False),
            changes=changes,
        )
        return _contact_response(contact_id)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, contact_id: int) -> Response:
        services.contact_delete(contact_id=contact_id, actor=self.member)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactRestoreView(VersionedRecordView):
    record_kind = "contact"

    @extend_schema(request=None, responses={200: ContactSerializer, **ERRORS})
    def post(self, request: Request, contact_id: int) -> Response:
        services.contact_restore(contact_id=contact_id, actor=self.member)
        return _contact_response(contact_id)


class ContactPurgeView(RecordPurgeView):
    """Remove a deleted contact for good, with its notes, tasks and timeline. Admins only."""

    record_kind = "contact"

    def purge(self, record_id: int, request: Request) -> None:
        services.contact_purge(contact_id=record_id, actor=self.member, request=request._request)


class ContactNotesView(RecordNotesView):
    def get_record(self, record_id: int) -> Contact:
        return selectors.contact_get(contact_id=record_id)

    def add_note(self, record_id: int, body: str) -> Note:
        return services.contact_note_add(contact_id=record_id, actor=self.member, body=body)


class ContactActivitiesView(RecordActivitiesView):
    def get_record(self, record_id: int) -> Contact:
        return selectors.contact_get(contact_id=record_id)

    def log(self, record_id: int, data: dict[str, Any]) -> Activity:
        return services.contact_activity_log(contact_id=record_id, actor=self.member, **data)
