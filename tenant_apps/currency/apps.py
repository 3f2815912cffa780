from django.apps import AppConfig


class CurrencyConfig(AppConfig):
    name = "tenant_apps.currency"
    label = "currency"
    api_key_resources = ("exchange-rates",)  # see LeadsConfig
