from rest_framework import serializers

from shared_apps.users.models import User


class CredentialsSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=200, write_only=True, trim_whitespace=False)
    # the second factor of an account with two-factor sign-in (shared_apps.mfa): one or the other
    otp = serializers.CharField(max_length=16, required=False, allow_blank=True, write_only=True)
    recovery_code = serializers.CharField(max_length=32, required=False, allow_blank=True, write_only=True)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class MeOrganizationSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    plan = serializers.CharField()
    default_currency = serializers.CharField()


class MeSerializer(serializers.ModelSerializer):
    organization = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "role", "date_joined", "organization"]

    def get_organization(self, user: User) -> dict:
        return dict(MeOrganizationSerializer(self.context["organization"]).data)
