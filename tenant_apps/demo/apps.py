from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for `make up` (no models: installed in the public app list for its command only)."""

    name = "tenant_apps.demo"
    label = "demo"
