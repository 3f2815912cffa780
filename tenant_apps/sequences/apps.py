from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "tenant_apps.sequences"
    label = "sequences"

    def ready(self) -> None:
        from tenant_apps.sequences.services import subscribe_to_events

        subscribe_to_events()
