from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "tenant_apps.automation"
    label = "automation"
    api_key_resources = ("rules",)  # see LeadsConfig

    def ready(self) -> None:
        from tenant_apps.automation.hooks import subscribe_to_events

        subscribe_to_events()
