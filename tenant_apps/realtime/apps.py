from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "tenant_apps.realtime"
    label = "realtime"
    api_key_resources = ("pipeline",)  # see LeadsConfig

    def ready(self) -> None:
        from tenant_apps.realtime.services import subscribe_to_events

        subscribe_to_events()
