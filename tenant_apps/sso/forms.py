from __future__ import annotations

from typing import Any

from django import forms

from tenant_apps.sso.services import JIT_ROLE_CHOICES


class SsoSettingsForm(forms.Form):
    issuer = forms.URLField(max_length=500, required=False, assume_scheme="https")
    client_id = forms.CharField(max_length=255, required=False, label="Client ID")
    client_secret = forms.CharField(
        max_length=500,
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the current secret.",
    )
    allowed_domains = forms.CharField(
        max_length=4000,
        required=False,
        help_text="People of these email domains become members on their first sign-in (comma-separated).",
    )
    default_role = forms.ChoiceField(choices=JIT_ROLE_CHOICES)
    enabled = forms.BooleanField(required=False, label="Enable single sign-on")
    require_sso = forms.BooleanField(required=False, label="Require SSO (members cannot use passwords)")

    def changes(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["allowed_domains"] = [part for part in data["allowed_domains"].replace(",", " ").split() if part]
        if not data["client_secret"]:
            data.pop("client_secret")
        return data
