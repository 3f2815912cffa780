from django.apps import AppConfig


class CustomFieldsConfig(AppConfig):
    name = "tenant_apps.customfields"
    label = "customfields"
    verbose_name = "custom fields"
    api_key_resources = ("custom-fields",)  # see LeadsConfig

    def ready(self) -> None:
        from tenant_apps.customfields import lookups

        lookups.register()
