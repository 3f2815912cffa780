"""What the web app remembers per member: the columns each list shows."""

from __future__ import annotations

from django.conf import settings
from django.db import models

# the columns each list may show (the name is always shown), in display order, and those shown by default
LISTS: dict[str, tuple[str, ...]] = {
    "leads": (
        "company",
        "stage",
        "value",
        "owner",
        "source",
        "tags",
        "email",
        "phone",
        "created_at",
        "stage_changed_at",
        "last_contacted_at",
    ),
    "deals": (
        "account",
        "pipeline",
        "stage",
        "amount",
        "probability",
        "owner",
        "primary_contact",
        "expected_close_date",
        "tags",
        "created_at",
    ),
}
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": ("company", "stage", "value", "owner", "created_at"),
    "deals": ("account", "stage", "amount", "owner", "expected_close_date"),
}
# the record type whose custom fields a list also offers as columns (custom.<key>)
LIST_RECORD_TYPES: dict[str, str] = {"leads": "lead", "deals": "opportunity"}


class ListColumns(models.Model):
    """The columns a member chose for one list ("leads" or "deals"), in order."""

    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    list_name = models.CharField(max_length=40)
    columns = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "list_name"], name="web_list_columns_once"),
        ]

    def __str__(self) -> str:
        return f"{self.list_name} columns of {self.member_id}"
