from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "tenant_apps.contacts"
    label = "contacts"
    api_key_resources = ("contacts",)  # see LeadsConfig
