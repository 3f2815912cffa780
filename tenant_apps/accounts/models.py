from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from shared_apps.core.search import folded, record_vector
from tenant_apps.records.models import CustomerRecord, ordering_indexes, prefix_indexes


class AccountStatus(models.TextChoices):
    PROSPECT = "prospect", "Prospect"
    CUSTOMER = "customer", "Customer"
    PARTNER = "partner", "Partner"
    CHURNED = "churned", "Churned"
    INACTIVE = "inactive", "Inactive"


class AccountSize(models.TextChoices):
    S1 = "1-10", "1-10"
    S2 = "11-50", "11-50"
    S3 = "51-200", "51-200"
    S4 = "201-1000", "201-1000"
    S5 = "1001-5000", "1001-5000"
    S6 = "5001+", "5001+"


class Account(CustomerRecord):
    """A customer company."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, default="")
    industry = models.CharField(max_length=100, blank=True, default="")
    size = models.CharField(max_length=16, choices=AccountSize.choices, blank=True, default="")
    status = models.CharField(max_length=16, choices=AccountStatus.choices, default=AccountStatus.PROSPECT)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    search_vector = models.GeneratedField(
        expression=record_vector(A=["name"], B=["domain", "industry"]),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        indexes = [
            models.Index(fields=["owner", "status"], name="account_owner_status_idx"),
            # "inactive customers": customers by last activity
            models.Index(fields=["status", "last_activity_at"], name="account_status_activity_idx"),
            models.Index(
                fields=["-created_at", "-id"],
                name="account_alive_created_idx",
                condition=Q(deleted_at__isnull=True, merged_into__isnull=True),
            ),
            models.Index(fields=["domain"], name="account_domain_idx", condition=~Q(domain="")),
            GinIndex(fields=["tags"], name="account_tags_gin"),
            GinIndex(fields=["search_vector"], name="account_search_gin"),
            GinIndex(OpClass(folded("name"), name="gin_trgm_ops"), name="account_name_trgm"),
            # every ?ordering= the list offers (the default, -created_at, has its index above)
            *ordering_indexes("account", ("updated_at", "name")),
            *prefix_indexes("account", whole=("name",)),
        ]

    def __str__(self) -> str:
        return self.name


class AccountStatusChange(models.Model):
    """Every lifecycle status change of an account: from, to, who, when, why."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=AccountStatus.choices)
    to_status = models.CharField(max_length=16, choices=AccountStatus.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=1000, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["account", "at"], name="account_status_change_idx")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.from_status} -> {self.to_status}"
