from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "tenant_apps.imports"
    label = "imports"
    api_key_resources = ("imports", "exports")  # see LeadsConfig
