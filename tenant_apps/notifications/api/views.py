from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.http.api import ErrorSerializer, OrganizationView, parse
from shared_apps.http.pagination import Cursor
from tenant_apps.notifications import services
from tenant_apps.notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "data", "read_at", "created_at"]
        read_only_fields = fields


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=500)


class NotificationListView(OrganizationView):
    """The signed-in member's notifications, newest first; `?unread=true` for unread ones only."""

    pagination_class = Cursor

    @extend_schema(
        parameters=[OpenApiParameter("unread", bool)],
        responses={200: NotificationSerializer(many=True), 400: ErrorSerializer, 401: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        notifications = Notification.objects.filter(recipient=self.member)
        if request.query_params.get("unread") in ("1", "true", "yes"):
            notifications = notifications.filter(read_at__isnull=True)
        return self.paginated(notifications, NotificationSerializer)


class NotificationReadView(OrganizationView):
    @extend_schema(request=MarkReadSerializer, responses={200: dict, 400: ErrorSerializer})
    def post(self, request: Request) -> Response:
        """Mark the given notifications (or all) read."""
        data = parse(MarkReadSerializer, request.data)
        count = services.notifications_mark_read(recipient=self.member, ids=data.get("ids"))
        return Response({"marked_read": count})
