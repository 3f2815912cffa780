from django.urls import path

from tenant_apps.customfields.api import views

urlpatterns = [
    path("custom-fields/", views.CustomFieldListView.as_view(), name="custom-fields"),
    path("custom-fields/<int:field_id>/", views.CustomFieldDetailView.as_view(), name="custom-field"),
]
