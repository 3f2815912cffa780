from django.apps import AppConfig


class MfaConfig(AppConfig):
    """Two-factor sign-in (TOTP, RFC 6238, with recovery codes): installed in the public schema (operators)
    and in every organization's schema (its members), beside the users it belongs to."""

    name = "shared_apps.mfa"
    label = "mfa"
