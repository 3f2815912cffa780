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
    time_zone = serializers.CharField()


class MeSerializer(serializers.ModelSerializer):
    organization = serializers.SerializerMethodField()
    time_zone_in_force = serializers.SerializerMethodField(
        help_text="The member's own time_zone, else the organization's: what their days follow."
    )

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "full_name",
            "role",
            "date_joined",
            "time_zone",
            "time_zone_in_force",
            "organization",
        ]

    def get_time_zone_in_force(self, user: User) -> str:
        return user.time_zone or str(getattr(self.context["organization"], "time_zone", "") or "UTC")

    def get_organization(self, user: User) -> dict:
        return dict(MeOrganizationSerializer(self.context["organization"]).data)


class MeUpdateSerializer(serializers.Serializer):
    time_zone = serializers.CharField(
        allow_blank=True, help_text="IANA zone name (e.g. 'Europe/Paris'); blank: the organization's."
    )
