from django.apps import AppConfig


class MailConfig(AppConfig):
    """Email as a channel of the organization: inbound messages parsed onto timelines, their attachments,
    bounces, and the organization's email settings (the receiver itself is shared_apps.mailroute)."""

    name = "tenant_apps.mail"
    label = "mail"
    api_key_resources = ("email", "attachments", "outbound-email")  # see LeadsConfig
