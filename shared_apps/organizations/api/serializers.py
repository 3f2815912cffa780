from rest_framework import serializers

from shared_apps.organizations.models import Organization, OrganizationStatus, Plan


class DomainSerializer(serializers.Serializer):
    domain = serializers.CharField()
    is_primary = serializers.BooleanField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class OrganizationSerializer(serializers.ModelSerializer):
    domains = DomainSerializer(many=True, read_only=True)

    class Meta:
        model = Organization
        fields = [
            "slug",
            "name",
            "status",
            "plan",
            "default_currency",
            "time_zone",
            "domains",
            "database",
            "moving_since",
            "created_at",
            "deleted_at",
        ]
        read_only_fields = fields


class OrganizationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(max_length=100)
    admin_email = serializers.CharField(max_length=254)
    admin_password = serializers.CharField(max_length=200, write_only=True)
    admin_name = serializers.CharField(max_length=200, required=False, default="")
    plan = serializers.ChoiceField(choices=Plan.choices, required=False, default=Plan.FREE)
    database = serializers.CharField(
        max_length=63,
        required=False,
        help_text="The database alias to place the organization on (default: NEW_ORGANIZATION_DATABASE).",
    )
    time_zone = serializers.CharField(
        max_length=64,
        required=False,
        default="UTC",
        help_text="IANA zone name; its days and periods follow it.",
    )


class OrganizationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    plan = serializers.ChoiceField(choices=Plan.choices, required=False)
    status = serializers.ChoiceField(
        choices=[OrganizationStatus.ACTIVE, OrganizationStatus.SUSPENDED], required=False
    )


class PurgeSerializer(serializers.Serializer):
    confirm = serializers.CharField(help_text="The organization's slug, typed again.")
