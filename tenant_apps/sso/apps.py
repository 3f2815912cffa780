from django.apps import AppConfig


class SsoAppConfig(AppConfig):
    """Single sign-on with OpenID Connect, configured per organization (the configuration lives in its
    schema)."""

    name = "tenant_apps.sso"
    label = "sso"
    api_key_resources = ("sso",)  # see LeadsConfig

    def ready(self) -> None:
        from shared_apps.users.policies import password_sign_in_rule
        from tenant_apps.sso.selectors import refuse_password_when_sso_required

        password_sign_in_rule(refuse_password_when_sso_required)
