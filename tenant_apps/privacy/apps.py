from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "tenant_apps.privacy"
    label = "privacy"
    api_key_resources = ("privacy", "do-not-contact")  # see LeadsConfig
