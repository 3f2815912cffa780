from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "tenant_apps.notifications"
    label = "notifications"
    api_key_resources = ("notifications",)  # see LeadsConfig

    def ready(self) -> None:
        from tenant_apps.notifications.services import subscribe_to_events

        subscribe_to_events()
