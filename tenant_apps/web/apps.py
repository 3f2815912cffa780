from django.apps import AppConfig


class WebConfig(AppConfig):
    """The members' web app on each organization's host: server-rendered pages over the same services and
    selectors as the API. No models."""

    name = "tenant_apps.web"
    label = "web"
