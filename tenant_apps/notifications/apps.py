from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "tenant_apps.notifications"
    label = "notifications"
    api_key_resources = ("notifications",)  # see LeadsConfig
