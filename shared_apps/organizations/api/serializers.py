from rest_framework import serializers

from shared_apps.organizations.models import (
    BulkOperation,
    Organization,
    OrganizationStatus,
    OrganizationUsage,
    Plan,
    PlanDefinition,
    SupportSession,
)


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


class OrganizationListSerializer(OrganizationSerializer):
    """A row of the list: the organization with the usage figures it can be sorted by (collected hourly;
    0 and null before the first collection)."""

    last_active_at = serializers.DateTimeField(source="usage.last_active_at", read_only=True, default=None)
    members = serializers.IntegerField(read_only=True)
    records = serializers.IntegerField(read_only=True)
    storage_bytes = serializers.IntegerField(read_only=True)
    api_requests_30d = serializers.IntegerField(read_only=True)
    api_5xx_30d = serializers.IntegerField(read_only=True)
    failed_jobs = serializers.IntegerField(read_only=True)

    class Meta(OrganizationSerializer.Meta):
        fields = [
            *OrganizationSerializer.Meta.fields,
            "last_active_at",
            "members",
            "records",
            "storage_bytes",
            "api_requests_30d",
            "api_5xx_30d",
            "failed_jobs",
        ]
        read_only_fields = fields


class OrganizationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(max_length=100)
    admin_email = serializers.CharField(max_length=254)
    admin_password = serializers.CharField(max_length=200, write_only=True)
    admin_name = serializers.CharField(max_length=200, required=False, default="")
    plan = serializers.CharField(max_length=16, required=False, default=Plan.FREE, help_text="A plan's slug.")
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
    plan = serializers.CharField(
        max_length=16, required=False, help_text="A plan's slug; its limits apply at once."
    )
    status = serializers.ChoiceField(
        choices=[OrganizationStatus.ACTIVE, OrganizationStatus.SUSPENDED], required=False
    )


class PurgeSerializer(serializers.Serializer):
    confirm = serializers.CharField(help_text="The organization's slug, typed again.")


LIMIT_HELP = "null: no limit"


class PlanSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlanDefinition
        fields = [
            "slug",
            "name",
            "max_members",
            "max_records",
            "max_storage_mb",
            "api_requests_per_minute",
            "imports_per_day",
            "max_webhook_endpoints",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


def _limit() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=0, max_value=2_000_000_000, allow_null=True, required=False, help_text=LIMIT_HELP
    )


class PlanUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    max_members = _limit()
    max_records = _limit()
    max_storage_mb = _limit()
    api_requests_per_minute = _limit()
    imports_per_day = _limit()
    max_webhook_endpoints = _limit()


class PlanCreateSerializer(PlanUpdateSerializer):
    slug = serializers.CharField(max_length=16)
    name = serializers.CharField(max_length=100)


class UsageSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrganizationUsage
        exclude = ["id", "organization"]
        read_only_fields = [field.name for field in OrganizationUsage._meta.fields]


class SupportSessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = SupportSession
        fields = ["id", "operator_email", "reason", "created_at", "expires_at", "ended_at"]
        read_only_fields = fields


class SupportOpenSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000, help_text="Why (at least 10 characters); shown to the admins."
    )
    minutes = serializers.IntegerField(min_value=1, max_value=240, required=False, default=60)


class SupportOpenedSerializer(SupportSessionSerializer):
    token = serializers.CharField(
        read_only=True, help_text="Bearer token for the organization's host; shown once."
    )
    host = serializers.CharField(read_only=True)

    class Meta(SupportSessionSerializer.Meta):
        fields = [*SupportSessionSerializer.Meta.fields, "token", "host"]
        read_only_fields = fields


class BulkSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["suspend", "resume", "change_plan", "migrate", "move"])
    slugs = serializers.ListField(child=serializers.CharField(max_length=40), max_length=500)
    confirm = serializers.IntegerField(help_text="How many organizations `slugs` names, again.")
    plan = serializers.CharField(max_length=16, required=False, help_text="change_plan: the plan's slug.")
    to = serializers.CharField(max_length=63, required=False, help_text="move: the target DATABASES alias.")


class BulkOperationSerializer(serializers.ModelSerializer):
    results = serializers.DictField(
        child=serializers.DictField(),
        read_only=True,
        help_text='Per organization slug: {"status": "pending|done|failed", "code"?, "message"?, ...}.',
    )

    class Meta:
        model = BulkOperation
        fields = [
            "id",
            "action",
            "parameters",
            "operator_email",
            "status",
            "results",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields
