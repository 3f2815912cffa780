from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "tenant_apps.analytics"
    label = "analytics"
    api_key_resources = ("analytics",)  # see LeadsConfig

    def ready(self) -> None:
        from tenant_apps.analytics.services import subscribe_to_events

        subscribe_to_events()
