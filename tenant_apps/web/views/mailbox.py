"""The member's own IMAP mailbox page (what /api/me/mailbox/ does, in the web app): how its syncing goes,
and a form to connect it (tried with a real login first; the password is write-only) or disconnect it.
Every member sees the page; connecting is for reps and above, as in the API."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role
from tenant_apps.mail import imap
from tenant_apps.mail.models import ImapSecurity
from tenant_apps.mail.selectors import imap_mailbox_get
from tenant_apps.web.views.base import Done, action, member, member_required, parse


class MailboxForm(forms.Form):
    host = forms.CharField(max_length=253)
    port = forms.IntegerField(min_value=1, max_value=65535)
    security = forms.ChoiceField(choices=ImapSecurity.choices)
    username = forms.CharField(max_length=254)
    password = forms.CharField(max_length=500, strip=False)
    folder = forms.CharField(max_length=200, required=False)


@member_required
@require_GET
def mailbox(request: HttpRequest) -> HttpResponse:
    context = {
        "nav": "email",
        "mailbox": imap_mailbox_get(actor=member(request)),
        "can_connect": has_role(request.user, Role.REP),
        "security_choices": ImapSecurity.choices,
    }
    return render(request, "web/mailbox.html", context)


@action
def mailbox_connect(request: HttpRequest) -> Done:
    """The service tries the server before it saves anything; a failure comes back naming the step."""
    changes = parse(MailboxForm, request.POST)
    if not changes["folder"]:
        changes.pop("folder")
    imap.imap_mailbox_connect(actor=member(request), changes=changes)
    return Done(
        "Your mailbox is connected: its messages are synced every few minutes.", reverse("web:mailbox")
    )


@action
def mailbox_disconnect(request: HttpRequest) -> Done:
    imap.imap_mailbox_disconnect(actor=member(request))
    return Done(
        "Your mailbox is disconnected (what it synced stays on the timelines).", reverse("web:mailbox")
    )
