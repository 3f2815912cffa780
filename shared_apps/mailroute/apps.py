from django.apps import AppConfig


class MailrouteConfig(AppConfig):
    """Inbound mail on the platform's side: which organization an address on INBOUND_DOMAIN belongs to
    (a public-schema table, so the receiver never enters a schema to decide), and the SMTP receiver that
    stores each message and hands it to a job in that organization (tenant_apps.mail parses it)."""

    name = "shared_apps.mailroute"
    label = "mailroute"
