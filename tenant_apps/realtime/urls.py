from django.urls import path

from tenant_apps.realtime import views

urlpatterns = [
    path("pipeline/stream", views.pipeline_stream, name="pipeline-stream"),
]
