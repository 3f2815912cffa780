from django.urls import path

from shared_apps.audit.api import views

urlpatterns = [
    path("audit-log/", views.PlatformAuditLogView.as_view(), name="platform-audit-log"),
    path(
        "audit-log/export.csv", views.PlatformAuditLogExportView.as_view(), name="platform-audit-log-export"
    ),
]
