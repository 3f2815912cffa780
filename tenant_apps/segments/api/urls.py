from django.urls import path

from tenant_apps.segments.api import views

urlpatterns = [
    path("segments/", views.SegmentListView.as_view(), name="segments"),
    path("segments/presets/", views.PresetListView.as_view(), name="segment-presets"),
    path(
        "segments/presets/<str:key>/results/",
        views.PresetResultsView.as_view(),
        name="segment-preset-results",
    ),
    path("segments/<int:segment_id>/", views.SegmentDetailView.as_view(), name="segment"),
    path("segments/<int:segment_id>/results/", views.SegmentResultsView.as_view(), name="segment-results"),
]
