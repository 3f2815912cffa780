"""The lead page's "Send an email" form (tenant_apps.mail.outbound.email_send, as the API's
POST /api/leads/<id>/emails/send/)."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest
from django.urls import reverse

from tenant_apps.leads import selectors as lead_selectors
from tenant_apps.leads.exceptions import LeadNotFound
from tenant_apps.mail.outbound import MAX_BODY, email_send
from tenant_apps.web.views.base import Done, action, back, member, parse


class EmailSendForm(forms.Form):
    to = forms.CharField(max_length=254, required=False)
    subject = forms.CharField(max_length=300)
    body = forms.CharField(max_length=MAX_BODY, strip=False, widget=forms.Textarea(attrs={"rows": 6}))
    in_reply_to = forms.CharField(max_length=300, required=False)


@action
def lead_email_send(request: HttpRequest, lead_id: int) -> Done:
    data = parse(EmailSendForm, request.POST)
    actor = member(request)
    lead = lead_selectors.lead_for_write(actor=actor, lead_id=lead_id)
    if lead.deleted_at is not None or lead.merged_into_id is not None:
        raise LeadNotFound(id=lead_id)
    activity = email_send(actor=actor, record=lead, attachments=request.FILES.getlist("attachments"), **data)
    return Done(
        f"Email sent to {activity.metadata['to']}.", back(request, reverse("web:lead", args=[lead_id]))
    )
