from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "tenant_apps.automation"
    label = "automation"
    api_key_resources = ("rules",)  # see LeadsConfig

    def ready(self) -> None:
        from tenant_apps.automation.hooks import new_lead_followed_up, subscribe_to_events
        from tenant_apps.automation.selectors import routing_on
        from tenant_apps.leads.services import follow_up_check_register, routing_check_register

        subscribe_to_events()
        routing_check_register(routing_on)
        follow_up_check_register(new_lead_followed_up)
