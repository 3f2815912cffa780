from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operators' console on the root domain: organizations listed, provisioned, suspended. No models."""

    name = "shared_apps.console"
    label = "console"
