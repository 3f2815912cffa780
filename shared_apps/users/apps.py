from django.apps import AppConfig


class UsersConfig(AppConfig):
    """Installed in the public schema (operators) and in every organization's schema (its members)."""

    name = "shared_apps.users"
    label = "users"

    def ready(self) -> None:
        from shared_apps.users import schema  # noqa: F401  (OpenAPI security scheme)
