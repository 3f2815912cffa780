from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "tenant_apps.accounts"
    label = "accounts"
    api_key_resources = ("accounts",)  # see LeadsConfig
