from django.apps import AppConfig


class RecordsConfig(AppConfig):
    """What every customer record (lead, account, contact, opportunity) shares: the base model, the
    shared services and API pieces, normalization and the common list filters. No tables of its own."""

    name = "tenant_apps.records"
    label = "records"
