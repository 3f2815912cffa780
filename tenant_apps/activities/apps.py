from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "tenant_apps.activities"
    label = "activities"
    api_key_resources = ("activities",)  # see LeadsConfig
