"""Custom field definitions: every member reads them, admins write them (each change in the audit log)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, OrganizationView, parse
from shared_apps.users.models import Role
from tenant_apps.customfields import selectors, services
from tenant_apps.customfields.api.serializers import (
    CustomFieldFilterSerializer,
    CustomFieldSerializer,
    CustomFieldUpdateSerializer,
    CustomFieldWriteSerializer,
)


class CustomFieldView(OrganizationView):
    write_role = Role.ADMIN
    resource = "custom-fields"


def _sent(serializer_class: type, data: Any, **kwargs: Any) -> dict[str, Any]:
    """The typed input (only the keys the client sent); the service checks the rules."""
    return parse(serializer_class, data, **kwargs)


class CustomFieldListView(CustomFieldView):
    @extend_schema(
        parameters=[CustomFieldFilterSerializer], responses={200: CustomFieldSerializer(many=True), **ERRORS}
    )
    def get(self, request: Request) -> Response:
        """Every field, by record type and position (`?record_type=` for one)."""
        filters = parse(CustomFieldFilterSerializer, request.query_params)
        fields = selectors.custom_field_list(record_type=filters.get("record_type"))
        return Response(CustomFieldSerializer(fields, many=True).data)

    @extend_schema(request=CustomFieldWriteSerializer, responses={201: CustomFieldSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        data = _sent(CustomFieldWriteSerializer, request.data)
        field = services.custom_field_create(actor=self.member, request=request, **data)
        return Response(CustomFieldSerializer(field).data, status=status.HTTP_201_CREATED)


class CustomFieldDetailView(CustomFieldView):
    @extend_schema(responses={200: CustomFieldSerializer, **ERRORS})
    def get(self, request: Request, field_id: int) -> Response:
        return Response(CustomFieldSerializer(selectors.custom_field_get(field_id=field_id)).data)

    @extend_schema(request=CustomFieldUpdateSerializer, responses={200: CustomFieldSerializer, **ERRORS})
    def patch(self, request: Request, field_id: int) -> Response:
        """Relabel, reorder, change options (`migrate_to` moves the values of removed ones), make required
        or filterable. The key and record type never change; the type only while no record has a value (or
        to a wider text type)."""
        changes = _sent(CustomFieldUpdateSerializer, request.data, partial=True)
        field = services.custom_field_update(
            field_id=field_id, actor=self.member, changes=changes, request=request
        )
        return Response(CustomFieldSerializer(field).data)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, field_id: int) -> Response:
        """The field disappears at once; a job drops its index and its values."""
        services.custom_field_delete(field_id=field_id, actor=self.member, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
