from django.urls import path

from shared_apps.audit.api import views

urlpatterns = [
    path("audit-log/", views.AuditLogView.as_view(), name="audit-log"),
    path("audit-log/export.csv", views.AuditLogExportView.as_view(), name="audit-log-export"),
]
