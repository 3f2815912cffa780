from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The kernel (errors, events, database helpers, validation, search): imports no other app."""

    name = "shared_apps.core"
    label = "core"
