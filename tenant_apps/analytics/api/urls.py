from django.urls import path

from tenant_apps.analytics.api import views

urlpatterns = [
    path("analytics/pipeline/", views.PipelineView.as_view(), name="analytics-pipeline"),
    path("analytics/conversion/", views.ConversionView.as_view(), name="analytics-conversion"),
    path("analytics/cycle-length/", views.CycleLengthView.as_view(), name="analytics-cycle-length"),
    path("analytics/time-in-stage/", views.TimeInStageView.as_view(), name="analytics-time-in-stage"),
    path("analytics/forecast/", views.ForecastView.as_view(), name="analytics-forecast"),
    path("analytics/deals/", views.DealsView.as_view(), name="analytics-deals"),
]
