"""Typing of the console's forms; the rules (slug, reserved names, credentials) live in the services."""

from __future__ import annotations

from typing import Any

from django import forms

from shared_apps.organizations.models import OrganizationStatus, Plan, PlanDefinition


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


class StatusFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Active and suspended"), *[(s, s) for s in ("active", "suspended", "deleted")]],
        required=False,
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
