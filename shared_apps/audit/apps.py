from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit log: installed in the public schema (the platform's log of operators' actions) and in every
    organization's schema (that organization's security log). One model, written in the schema served."""

    name = "shared_apps.audit"
    label = "audit"
    api_key_resources = ("audit-log",)  # read with an admin-scope key only (shared_apps.audit.api.views)

    def ready(self) -> None:
        from shared_apps.audit import signals  # noqa: F401 (connects the sign-in receivers)
