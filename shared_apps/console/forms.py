"""Typing of the console's forms; the rules (slug, reserved names, credentials) live in the services."""

from __future__ import annotations

from typing import Any

from django import forms

from shared_apps.organizations import placement
from shared_apps.organizations.models import OrganizationStatus, Plan, PlanDefinition
from shared_apps.organizations.support import SUPPORT_DEFAULT_MINUTES, SUPPORT_MAX_MINUTES


def plan_choices() -> list[tuple[str, str]]:
    return [(plan.slug, plan.name) for plan in PlanDefinition.objects.all()]


class ProvisionForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.CharField(max_length=40, help_text="Lowercase letters, digits and hyphens: the subdomain.")
    plan = forms.ChoiceField(choices=Plan.choices, initial=Plan.FREE)
    admin_email = forms.CharField(max_length=254, label="First admin's email")
    admin_name = forms.CharField(max_length=200, required=False, label="First admin's name")
    admin_password = forms.CharField(
        max_length=200,
        strip=False,
        label="First admin's password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = plan_choices()  # type: ignore[attr-defined]


class StatusForm(forms.Form):
    status = forms.ChoiceField(
        choices=[(OrganizationStatus.ACTIVE, "active"), (OrganizationStatus.SUSPENDED, "suspended")]
    )


def _limit(label: str) -> forms.IntegerField:
    return forms.IntegerField(
        min_value=0, max_value=2_000_000_000, required=False, label=label, help_text="Empty: no limit."
    )


class PlanLimitsForm(forms.Form):
    name = forms.CharField(max_length=100)
    max_members = _limit("Members")
    max_records = _limit("Records")
    max_storage_mb = _limit("Storage (MB)")
    api_requests_per_minute = _limit("API requests per minute")
    imports_per_day = _limit("Imports per day")
    max_webhook_endpoints = _limit("Webhook endpoints")


class PlanForm(PlanLimitsForm):
    slug = forms.CharField(max_length=16, help_text="3 to 16 lowercase letters, digits and hyphens.")
    field_order = ["slug", "name"]


class PlanChangeForm(forms.Form):
    organization = forms.CharField(max_length=40)
    plan = forms.ChoiceField(choices=[])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = plan_choices()  # type: ignore[attr-defined]


class SlugsField(forms.Field):
    """The organizations ticked in the list (repeated `slugs` values)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        values = [value] if isinstance(value, str) else list(value)
        return list(dict.fromkeys(str(item).strip() for item in values if str(item).strip()))

    def validate(self, value: Any) -> None:
        super().validate(value)
        if len(value) > 500:
            raise forms.ValidationError("At most 500 organizations at once.")
        if any(len(slug) > 40 for slug in value):
            raise forms.ValidationError("Not an organization's slug.")


BULK_ACTIONS = [
    ("suspend", "Suspend"),
    ("resume", "Reactivate"),
    ("change_plan", "Change plan"),
    ("migrate", "Run pending migrations"),
    ("move", "Move to another database"),
]


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=BULK_ACTIONS, label="Action")
    slugs = SlugsField(label="Organizations", error_messages={"required": "Tick at least one organization."})
    plan = forms.ChoiceField(choices=[], required=False, label="Plan")
    to = forms.ChoiceField(choices=[], required=False, label="Database")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = [("", "—"), *plan_choices()]  # type: ignore[attr-defined]
        self.fields["to"].choices = [  # type: ignore[attr-defined]
            ("", "—"),
            *[(alias, alias) for alias in placement.database_aliases()],
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "change_plan" and not data.get("plan"):
            self.add_error("plan", "Choose the plan to move them to.")
        if data.get("action") == "move" and not data.get("to"):
            self.add_error("to", "Choose the database to move them to.")
        return data

    def action_label(self) -> str:
        return dict(BULK_ACTIONS).get(self.cleaned_data.get("action", ""), "")


class SupportForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Shown to the organization's admins.",
    )
    minutes = forms.IntegerField(min_value=1, max_value=SUPPORT_MAX_MINUTES, initial=SUPPORT_DEFAULT_MINUTES)
