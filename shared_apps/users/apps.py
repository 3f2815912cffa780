from django.apps import AppConfig


class UsersConfig(AppConfig):
    """Installed in the public schema (operators) and in every organization's schema (its members)."""

    name = "shared_apps.users"
    label = "users"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from shared_apps.users import (
            credentials_cache,  # noqa: F401  (stale cached tokens and keys are dropped on every change)
            schema,  # noqa: F401  (OpenAPI security scheme)
        )
        from shared_apps.users.sessions import on_user_logged_in, on_user_logged_out

        # every sign-in through a session (pages, console, SSO, invitations) leaves a row to list and end it
        user_logged_in.connect(on_user_logged_in, dispatch_uid="users.session_record")
        user_logged_out.connect(on_user_logged_out, dispatch_uid="users.session_forget")
