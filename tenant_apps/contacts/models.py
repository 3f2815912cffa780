from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q

from shared_apps.core.search import folded, record_vector
from tenant_apps.records.models import CustomerRecord, ordering_indexes, prefix_indexes


class Contact(CustomerRecord):
    """A person, optionally at one account."""

    name = models.CharField(max_length=200)
    email = models.CharField(max_length=254, blank=True, default="")
    phone = models.CharField(max_length=40, blank=True, default="")
    phone_normalized = models.CharField(max_length=20, blank=True, default="", editable=False)
    title = models.CharField(max_length=200, blank=True, default="")
    account = models.ForeignKey(
        "accounts.Account",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        db_index=False,
    )
    last_contacted_at = models.DateTimeField(null=True, blank=True)

    search_vector = models.GeneratedField(
        expression=record_vector(A=["name"], B=["email", "title"]),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        indexes = [
            models.Index(fields=["account", "name"], name="contact_account_idx"),
            models.Index(fields=["owner", "-created_at"], name="contact_owner_idx"),
            models.Index(
                fields=["-created_at", "-id"],
                name="contact_alive_created_idx",
                condition=Q(deleted_at__isnull=True, merged_into__isnull=True),
            ),
            models.Index(fields=["email"], name="contact_email_idx", condition=~Q(email="")),
            models.Index(
                fields=["phone_normalized"], name="contact_phone_idx", condition=~Q(phone_normalized="")
            ),
            GinIndex(fields=["tags"], name="contact_tags_gin"),
            GinIndex(fields=["search_vector"], name="contact_search_gin"),
            GinIndex(OpClass(folded("name"), name="gin_trgm_ops"), name="contact_name_trgm"),
            # every ?ordering= the list offers (the default, -created_at, has its index above)
            *ordering_indexes("contact", ("updated_at", "name")),
            *prefix_indexes("contact", person="name"),
        ]

    def __str__(self) -> str:
        return self.name
