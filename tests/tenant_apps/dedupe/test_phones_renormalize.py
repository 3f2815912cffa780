"""Issue 16: numbers stored under the old rule (digits only) are brought to E.164 by a command."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django_tenants.utils import schema_context

from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead


def test_the_command_brings_old_normalized_phones_to_e164(org, make_lead, make_contact) -> None:
    lead = make_lead(name="Nancy", phone="(555) 010-7777")
    with schema_context(org.schema_name):
        contact = make_contact(name="Andrew", phone="+44 20 7946 0958")
        Lead.objects.filter(pk=lead.pk).update(phone_normalized="5550107777")  # as the old rule stored it
        Contact.objects.filter(pk=contact.pk).update(phone_normalized="+442079460958")  # already right
    out = StringIO()
    call_command("phones_renormalize", org.slug, stdout=out)
    assert out.getvalue().strip() == "1 phone numbers renormalized"
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=lead.pk).phone_normalized == "+15550107777"
        assert Contact.objects.get(pk=contact.pk).phone_normalized == "+442079460958"
