"""The organization's email settings page: its inbound (dropbox) address for every member, and the one
setting admins change (a message from an unknown sender makes a lead)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from shared_apps.users.models import Role
from tenant_apps.mail import selectors as mail_selectors
from tenant_apps.mail import services as mail_services
from tenant_apps.web.views.base import Done, action, member, member_required, parse


class EmailSettingsForm(forms.Form):
    create_leads_from_unknown = forms.BooleanField(required=False)


@member_required
@require_GET
def email_settings(request: HttpRequest) -> HttpResponse:
    current = mail_selectors.mail_settings_get()
    context = {
        "nav": "email",
        "inbound_address": mail_selectors.inbound_address(),
        "settings": current,
        "max_megabytes": settings.INBOUND_MAX_BYTES // (1024 * 1024),
        "can_change": member(request).role == Role.ADMIN,
    }
    return render(request, "web/email_settings.html", context)


@action
def email_settings_save(request: HttpRequest) -> Done:
    """Admins only (the service refuses the others with a 403)."""
    changes = parse(EmailSettingsForm, request.POST)
    mail_services.mail_settings_update(actor=member(request), changes=changes)
    return Done("Email settings saved.", reverse("web:email-settings"))
