from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "tenant_apps.sequences"
    label = "sequences"
    api_key_resources = ("sequences",)  # see LeadsConfig

    def ready(self) -> None:
        from tenant_apps.records.visibility import register_policy
        from tenant_apps.sequences.selectors import enrollments_for
        from tenant_apps.sequences.services import subscribe_to_events

        register_policy("enrollment", enrollments_for)
        subscribe_to_events()
