from django.urls import path

from tenant_apps.imports.api import views
from tenant_apps.imports.models import ExportType

urlpatterns = [
    path("imports/", views.ImportListView.as_view(), name="imports"),
    path("imports/<int:import_id>/", views.ImportDetailView.as_view(), name="import"),
    path("imports/<int:import_id>/errors.csv", views.ImportErrorsView.as_view(), name="import-errors"),
    path("imports/<int:import_id>/cancel/", views.ImportCancelView.as_view(), name="import-cancel"),
    path("imports/<int:import_id>/revert/", views.ImportRevertView.as_view(), name="import-revert"),
    path("exports/", views.ExportListView.as_view(), name="exports"),
    *(
        path(
            f"exports/{kind}.csv", views.ExportCSVView.as_view(), {"record_type": kind}, name=f"export-{kind}"
        )
        for kind in ExportType.values
    ),
    path("exports/<int:export_id>/", views.ExportDetailView.as_view(), name="export"),
    path("exports/<int:export_id>/download/", views.ExportDownloadView.as_view(), name="export-download"),
]
