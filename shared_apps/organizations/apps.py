from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "shared_apps.organizations"
    label = "organizations"

    def ready(self) -> None:
        from shared_apps.organizations import routing  # noqa: F401  (cache invalidation signals)
