from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit log: installed in the public schema (the platform's log of operators' actions) and in every
    organization's schema (that organization's security log). One model, written in the schema served."""

    name = "shared_apps.audit"
    label = "audit"
