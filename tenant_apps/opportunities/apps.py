from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "tenant_apps.opportunities"
    label = "opportunities"
    api_key_resources = ("opportunities", "pipelines")  # see LeadsConfig
