"""Typing of the console's forms; the rules (slug, reserved names, credentials) live in the services."""

from __future__ import annotations

from django import forms

from shared_apps.organizations.models import OrganizationStatus, Plan


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


class StatusForm(forms.Form):
    status = forms.ChoiceField(
        choices=[(OrganizationStatus.ACTIVE, "active"), (OrganizationStatus.SUSPENDED, "suspended")]
    )


class StatusFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Active and suspended"), *[(s, s) for s in ("active", "suspended", "deleted")]],
        required=False,
    )
