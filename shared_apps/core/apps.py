from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "shared_apps.core"
    label = "core"

    def ready(self) -> None:
        # Every process runs this (web, rq workers and their work horses, the scheduler, commands): tracing
        # is installed here when the OTEL_* environment asks for it, and costs nothing otherwise.
        from shared_apps.core import tracing

        tracing.setup()
