from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "tenant_apps.segments"
    label = "segments"
    api_key_resources = ("segments",)  # see LeadsConfig
