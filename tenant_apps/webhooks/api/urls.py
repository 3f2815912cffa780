from django.urls import path

from tenant_apps.webhooks.api import views

urlpatterns = [
    path("webhooks/", views.EndpointListView.as_view(), name="webhooks"),
    path("webhooks/event-types/", views.EventTypesView.as_view(), name="webhook-event-types"),
    path("webhooks/<int:endpoint_id>/", views.EndpointDetailView.as_view(), name="webhook"),
    path("webhooks/<int:endpoint_id>/enable/", views.EndpointEnableView.as_view(), name="webhook-enable"),
    path(
        "webhooks/<int:endpoint_id>/deliveries/", views.DeliveryListView.as_view(), name="webhook-deliveries"
    ),
    path(
        "webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver/",
        views.RedeliverView.as_view(),
        name="webhook-redeliver",
    ),
]
