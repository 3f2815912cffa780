"""The organization's email settings page: its inbound (dropbox) address for every member; admins change
whether a message from an unknown sender makes a lead, configure the organization's own SMTP server
(the password is write-only: left blank, the stored one stays) and send a test message through it."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from shared_apps.users.models import Role
from tenant_apps.mail import selectors as mail_selectors
from tenant_apps.mail import services as mail_services
from tenant_apps.mail.models import SmtpSecurity
from tenant_apps.web.views.base import Done, action, member, member_required, parse


class EmailSettingsForm(forms.Form):
    create_leads_from_unknown = forms.BooleanField(required=False)


class SmtpSettingsForm(forms.Form):
    smtp_enabled = forms.BooleanField(required=False)
    smtp_host = forms.CharField(max_length=253, required=False)
    smtp_port = forms.IntegerField(min_value=1, max_value=65535)
    smtp_security = forms.ChoiceField(choices=SmtpSecurity.choices)
    smtp_username = forms.CharField(max_length=254, required=False)
    smtp_password = forms.CharField(max_length=500, required=False, strip=False)
    smtp_password_clear = forms.BooleanField(required=False)
    smtp_from_domains = forms.CharField(max_length=2000, required=False)
    smtp_from_address = forms.CharField(max_length=254, required=False)


class SmtpTestForm(forms.Form):
    to = forms.EmailField(required=False)


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
        "security_choices": SmtpSecurity.choices,
    }
    return render(request, "web/email_settings.html", context)


@action
def email_settings_save(request: HttpRequest) -> Done:
    """Admins only (the service refuses the others with a 403)."""
    changes = parse(EmailSettingsForm, request.POST)
    mail_services.mail_settings_update(actor=member(request), changes=changes)
    return Done("Email settings saved.", reverse("web:email-settings"))


@action
def email_settings_smtp_save(request: HttpRequest) -> Done:
    """Admins only (the service refuses the others with a 403). A blank password keeps the stored one."""
    changes = parse(SmtpSettingsForm, request.POST)
    password, clear = changes.pop("smtp_password"), changes.pop("smtp_password_clear")
    if clear:
        changes["smtp_password"] = ""
    elif password:
        changes["smtp_password"] = password
    changes["smtp_from_domains"] = [
        part for part in re.split(r"[\s,]+", changes["smtp_from_domains"]) if part
    ]
    mail_services.mail_settings_update(actor=member(request), changes=changes)
    return Done("SMTP settings saved.", reverse("web:email-settings"))


@action
def email_settings_smtp_test(request: HttpRequest) -> Done:
    """Admins only. A failure comes back as the flash message, naming what failed in the server's words."""
    data = parse(SmtpTestForm, request.POST)
    result = mail_services.mail_smtp_test(actor=member(request), to=data.get("to") or "")
    return Done(
        f"Test message sent to {result['to']} through {result['host']}.", reverse("web:email-settings")
    )
