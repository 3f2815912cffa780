from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ERRORS, ErrorSerializer, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from shared_apps.users.models import Role
from tenant_apps.webhooks import selectors, services
from tenant_apps.webhooks.api.serializers import (
    DeliveryFilterSerializer,
    DeliverySerializer,
    EndpointCreatedSerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    EndpointWriteSerializer,
    EventTypesSerializer,
)
from tenant_apps.webhooks.models import EVENT_TYPES, RECORD_EVENTS, WILDCARD

PAGE = [OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)]


class EndpointCursor(Cursor):
    pass


class DeliveryCursor(Cursor):
    pass


class WebhookView(OrganizationView):
    """Admins only, reading included: endpoints carry URLs and secrets and send data out. The services
    and selectors enforce it too; these let the permission layer refuse before any work."""

    read_role = Role.ADMIN
    write_role = Role.ADMIN
    resource = "webhooks"
    manages_access = True  # endpoints send the organization's data out: a key needs the admin scope


class EndpointListView(WebhookView):
    secret_fields = ("secret",)

    """Webhook endpoints of the organization (admins only)."""

    pagination_class = EndpointCursor

    @extend_schema(parameters=PAGE, responses={200: EndpointSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.endpoint_list(actor=self.member), EndpointSerializer)

    @extend_schema(request=EndpointWriteSerializer, responses={201: EndpointCreatedSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Register an endpoint; the response carries its signing secret, which is never shown again."""
        data = parse(EndpointWriteSerializer, request.data)
        created = services.endpoint_create(actor=self.member, request=request._request, **data)
        body = EndpointCreatedSerializer(created.endpoint, context={"secret": created.secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


def _endpoint_response(view: WebhookView, endpoint_id: int) -> Response:
    return Response(
        EndpointSerializer(selectors.endpoint_get(actor=view.member, endpoint_id=endpoint_id)).data
    )


class EndpointDetailView(WebhookView):
    @extend_schema(responses={200: EndpointSerializer, **ERRORS})
    def get(self, request: Request, endpoint_id: int) -> Response:
        return _endpoint_response(self, endpoint_id)

    @extend_schema(request=EndpointUpdateSerializer, responses={200: EndpointSerializer, **ERRORS})
    def patch(self, request: Request, endpoint_id: int) -> Response:
        """Change the URL (checked again), event types, description or secret; is_active pauses/resumes."""
        changes = parse(EndpointUpdateSerializer, request.data)
        services.endpoint_update(
            endpoint_id=endpoint_id, actor=self.member, changes=changes, request=request._request
        )
        return _endpoint_response(self, endpoint_id)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, endpoint_id: int) -> Response:
        services.endpoint_delete(endpoint_id=endpoint_id, actor=self.member, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointEnableView(WebhookView):
    @extend_schema(request=None, responses={200: EndpointSerializer, **ERRORS})
    def post(self, request: Request, endpoint_id: int) -> Response:
        """Resume deliveries after a pause or an automatic disable; redeliver what failed meanwhile."""
        services.endpoint_enable(endpoint_id=endpoint_id, actor=self.member, request=request._request)
        return _endpoint_response(self, endpoint_id)


class DeliveryListView(WebhookView):
    pagination_class = DeliveryCursor

    @extend_schema(
        parameters=[DeliveryFilterSerializer, *PAGE], responses={200: DeliverySerializer(many=True), **ERRORS}
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        """The endpoint's delivery log, newest first: each delivery with every attempt (status code,
        latency, up to 1 kB of the response, error)."""
        filters = parse(DeliveryFilterSerializer, request.query_params)
        deliveries = selectors.delivery_list(actor=self.member, endpoint_id=endpoint_id, filters=filters)
        return self.paginated(deliveries, DeliverySerializer)


class RedeliverView(WebhookView):
    @extend_schema(request=None, responses={202: DeliverySerializer, **ERRORS})
    def post(self, request: Request, endpoint_id: int, delivery_id: int) -> Response:
        """Send the delivery again now, with a fresh retry schedule (409 while it is in flight or the
        endpoint is disabled)."""
        services.delivery_redeliver(endpoint_id=endpoint_id, delivery_id=delivery_id, actor=self.member)
        delivery = selectors.delivery_get(actor=self.member, endpoint_id=endpoint_id, delivery_id=delivery_id)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class EventTypesView(OrganizationView):
    @extend_schema(responses={200: EventTypesSerializer, 401: ErrorSerializer})
    def get(self, request: Request) -> Response:
        """The event types an endpoint may subscribe to."""
        wildcards = [WILDCARD, *(f"{namespace}.*" for namespace in RECORD_EVENTS)]
        return Response({"event_types": sorted(EVENT_TYPES), "wildcards": wildcards})
