from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "tenant_apps.webhooks"
    label = "webhooks"
    api_key_resources = ("webhooks",)  # see LeadsConfig

    def ready(self) -> None:
        from shared_apps.core.events import subscribe_in_transaction
        from tenant_apps.webhooks.outbox import outbox_record, outbox_record_many

        # Every topic: the outbox row must commit or roll back with the change itself.
        subscribe_in_transaction("", outbox_record, many=outbox_record_many)
