from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "tenant_apps.leads"
    label = "leads"
    # what an API key may be limited to (shared_apps.users.apikeys): its views' `resource`, or the first
    # segment of their /api/ paths
    api_key_resources = ("leads",)
