from __future__ import annotations

import re

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django_tenants.models import DomainMixin, TenantMixin

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$")
RESERVED_SLUGS = frozenset(
    {
        "www",
        "api",
        "admin",
        "app",
        "public",
        "static",
        "media",
        "mail",
        "platform",
        "template",
        "root",
        "ftp",
        "smtp",
        "imap",
        "pop",
        "ns1",
        "ns2",
        "dns",
        "cdn",
        "assets",
        "status",
        "help",
        "support",
        "docs",
        "blog",
        "billing",
        "auth",
        "login",
        "signup",
        "dashboard",
        "internal",
        "staging",
        "dev",
        "test",
        "localhost",
        "webmail",
        "postgres",
        "information-schema",
    }
)
SCHEMA_PREFIX = "org_"


def schema_name_for(slug: str) -> str:
    """The schema of an organization: a fixed prefix keeps it clear of `pg_*`, `public` and keywords."""
    return SCHEMA_PREFIX + slug.replace("-", "_")


class OrganizationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    DELETED = "deleted", "Deleted"
    # The empty, migrated schema every new organization is cloned from; never routable.
    TEMPLATE = "template", "Template"


class Plan(models.TextChoices):
    FREE = "free", "Free"
    TEAM = "team", "Team"
    BUSINESS = "business", "Business"
    ENTERPRISE = "enterprise", "Enterprise"


class PlanDefinition(models.Model):
    """A plan operators define: the limits an organization on it works within (null: unlimited).

    `Organization.plan` holds the slug. Limits are read through shared_apps.organizations.limits (cached,
    forgotten when a plan is saved), so a changed plan or limit takes effect at once."""

    slug = models.SlugField(max_length=16, unique=True)
    name = models.CharField(max_length=100)
    max_members = models.PositiveIntegerField(null=True, blank=True)
    max_records = models.PositiveIntegerField(null=True, blank=True)
    max_storage_mb = models.PositiveIntegerField(null=True, blank=True)
    api_requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    imports_per_day = models.PositiveIntegerField(null=True, blank=True)
    max_webhook_endpoints = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Organization(TenantMixin):
    name = models.CharField(max_length=200)
    slug = models.CharField(max_length=40)
    status = models.CharField(
        max_length=16, choices=OrganizationStatus.choices, default=OrganizationStatus.ACTIVE
    )
    # the slug of a PlanDefinition (operators add plans; `Plan` names the four every install starts with)
    plan = models.CharField(max_length=16, default=Plan.FREE)
    default_currency = models.CharField(max_length=3, default="USD")
    # ISO 3166 region a phone number written without a country code belongs to ("(555) 010-7777").
    phone_region = models.CharField(max_length=2, default="US")
    # How the organization's files write numbers: "1,234.56" (grouping comma, decimal point) or "1.234,56".
    number_format = models.CharField(
        max_length=8, choices=[("1,234.56", "1,234.56"), ("1.234,56", "1.234,56")], default="1,234.56"
    )
    # IANA zone its days, periods, snapshots and 06:00 follow-ups are reckoned in
    # (shared_apps/core/localtime.py); a member's own `User.time_zone` overrides it for them.
    time_zone = models.CharField(max_length=64, default="UTC")
    # Reps see only their own and unassigned leads and opportunities unless this is on.
    reps_see_all_leads = models.BooleanField(default=False)
    # Every member must sign in with a second factor (shared_apps/mfa): set by the organization's admins.
    require_two_factor = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The DATABASES alias its schema lives on (see shared_apps/organizations/placement.py).
    database = models.CharField(max_length=63, default="default")
    # Set while the organization is being moved to another database: writes answer 503 until it clears.
    moving_since = models.DateTimeField(null=True, blank=True)
    # Its admins' emails, space-separated: the first admin's at provisioning, refreshed by the hourly usage
    # job, so operators search organizations by admin email without opening any organization's schema.
    admin_emails = models.TextField(blank=True, default="")

    # Schemas are created (cloned) by the provisioning service inside its transaction, never by save().
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        constraints = [
            # A deleted organization gives its slug back; only live ones must be unique.
            models.UniqueConstraint(
                fields=["slug"], condition=~Q(status="deleted"), name="organization_live_slug_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="organization_status_idx"),
            models.Index(fields=["created_at"], name="organization_created_idx"),
            models.Index(fields=["plan"], name="organization_plan_idx"),
            # the console's search: `icontains` is UPPER(column) LIKE UPPER('%q%'), which these serve
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="organization_name_trgm"),
            GinIndex(OpClass(Upper("slug"), name="gin_trgm_ops"), name="organization_slug_trgm"),
            GinIndex(OpClass(Upper("admin_emails"), name="gin_trgm_ops"), name="organization_admins_trgm"),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_active(self) -> bool:
        return self.status == OrganizationStatus.ACTIVE


class Domain(DomainMixin):
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [GinIndex(OpClass(Upper("domain"), name="gin_trgm_ops"), name="domain_domain_trgm")]

    def __str__(self) -> str:
        return self.domain


class OrganizationUsage(models.Model):
    """What an organization uses, collected by a scheduled job (shared_apps.organizations.usage) into the
    public schema: the console and the platform API read this row, never the organization's schema."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="usage")
    collected_at = models.DateTimeField()
    members = models.PositiveIntegerField(default=0)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)
    leads = models.PositiveIntegerField(default=0)
    contacts = models.PositiveIntegerField(default=0)
    accounts = models.PositiveIntegerField(default=0)
    deals = models.PositiveIntegerField(default=0)
    activities = models.PositiveBigIntegerField(default=0)
    schema_bytes = models.PositiveBigIntegerField(default=0)
    files = models.PositiveIntegerField(default=0)
    file_bytes = models.PositiveBigIntegerField(default=0)
    # the last 30 days (requests counted per organization and day in Redis by the access log middleware)
    api_requests_30d = models.PositiveBigIntegerField(default=0)
    api_4xx_30d = models.PositiveBigIntegerField(default=0)
    api_5xx_30d = models.PositiveBigIntegerField(default=0)
    imports_30d = models.PositiveIntegerField(default=0)
    webhook_failures_30d = models.PositiveIntegerField(default=0)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # migrations applied in the organization's schema, and the last one
    migrations_applied = models.PositiveIntegerField(default=0)
    last_migration = models.CharField(max_length=200, blank=True, default="")
    # the template's migrations the schema lacks (0: level with the template every new organization is
    # cloned from)
    migrations_pending = models.PositiveIntegerField(default=0)
    # the later of the last sign-in and the last timeline entry: what "last active" filters and sorts on
    last_active_at = models.DateTimeField(null=True, blank=True)
    # rq jobs of the organization in rq's failed job registries, and seconds its jobs ran over 30 days
    failed_jobs = models.PositiveIntegerField(default=0)
    job_seconds_30d = models.FloatField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["last_active_at"], name="usage_last_active_idx"),
            models.Index(fields=["-api_requests_30d"], name="usage_requests_idx"),
            models.Index(fields=["-api_5xx_30d"], name="usage_errors_idx"),
            models.Index(fields=["-job_seconds_30d"], name="usage_job_seconds_idx"),
            models.Index(fields=["-failed_jobs"], name="usage_failed_jobs_idx"),
            models.Index(fields=["-webhook_failures_30d"], name="usage_webhook_failures_idx"),
        ]

    def __str__(self) -> str:
        return f"usage of {self.organization_id}"

    @property
    def records(self) -> int:
        return self.leads + self.contacts + self.accounts + self.deals

    @property
    def storage_bytes(self) -> int:
        return self.schema_bytes + self.file_bytes


class SupportSession(models.Model):
    """An operator's read-only visit to an organization (shared_apps.organizations.support): a reason, at most
    SUPPORT_MAX_MINUTES, a viewer member of its own in the organization whose token expires with it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="support_sessions")
    operator_id = models.BigIntegerField()  # the operator (a public-schema user)
    operator_email = models.CharField(max_length=254)
    reason = models.TextField()
    member_id = models.BigIntegerField()  # the support member in the organization's schema
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="support_session_org_idx")]

    def __str__(self) -> str:
        return f"support {self.pk} in {self.organization_id}"


class BulkOperationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"


class BulkOperation(models.Model):
    """Migrating or moving many organizations, done by jobs (shared_apps.organizations.bulk): what was asked,
    by whom, and each organization's outcome as it comes (`results`: slug -> {"status", ...})."""

    action = models.CharField(max_length=16)
    parameters = models.JSONField(default=dict, blank=True)
    operator_email = models.CharField(max_length=254, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=BulkOperationStatus.choices, default=BulkOperationStatus.QUEUED
    )
    results = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} of {len(self.results)} organizations"


class SpareSchema(models.Model):
    """An empty organization schema cloned from the template ahead of time (spares.py): provisioning renames
    one to the new organization's schema instead of cloning on the request path. `fingerprint` is the
    template's migration state it was cloned from; a spare of another state is never used."""

    schema_name = models.CharField(max_length=63, unique=True)
    database = models.CharField(max_length=64, default="default")
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["database", "fingerprint"], name="spare_database_fingerprint")]

    def __str__(self) -> str:
        return self.schema_name
