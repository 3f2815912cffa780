from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    """Logging, metrics, tracing and the health probes (no models)."""

    name = "shared_apps.observability"
    label = "observability"

    def ready(self) -> None:
        # Every process runs this (web, rq workers and their work horses, the scheduler, commands): tracing
        # is installed here when the OTEL_* environment asks for it, and costs nothing otherwise.
        from shared_apps.observability import tracing

        tracing.setup()
