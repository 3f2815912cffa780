from rest_framework import serializers

from shared_apps.http.api import StrictCharField
from tenant_apps.sso.services import JIT_ROLE_CHOICES


class SsoConfigSerializer(serializers.Serializer):
    issuer = serializers.CharField()
    client_id = serializers.CharField()
    client_secret_set = serializers.SerializerMethodField()
    allowed_domains = serializers.ListField(child=serializers.CharField())
    default_role = serializers.CharField()
    enabled = serializers.BooleanField()
    require_sso = serializers.BooleanField()
    authorization_endpoint = serializers.CharField()
    token_endpoint = serializers.CharField()
    jwks_uri = serializers.CharField()
    redirect_uri = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField(allow_null=True)

    def get_client_secret_set(self, config: object) -> bool:
        return bool(getattr(config, "client_secret", ""))

    def get_redirect_uri(self, config: object) -> str:
        return str(self.context["redirect_uri"])


class SsoConfigUpdateSerializer(serializers.Serializer):
    """Every field is optional: those left out keep their value (the secret, written only, included)."""

    issuer = serializers.URLField(max_length=500, required=False, allow_blank=True)
    client_id = StrictCharField(max_length=255, required=False, allow_blank=True)
    client_secret = StrictCharField(max_length=500, required=False, write_only=True, trim_whitespace=False)
    allowed_domains = serializers.ListField(
        child=StrictCharField(max_length=253), max_length=100, required=False
    )
    # the roles a member made on first sign-in may get (never admin): their own choice set in the schema
    default_role = serializers.ChoiceField(choices=JIT_ROLE_CHOICES, required=False)
    enabled = serializers.BooleanField(required=False)
    require_sso = serializers.BooleanField(required=False)
