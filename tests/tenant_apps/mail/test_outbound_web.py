"""The lead page's "Send an email" form: through the real SMTP sink, onto the timeline; refusals come back
as the flash message (or JSON for scripts), never a 500."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.privacy.models import SuppressionReason
from tenant_apps.privacy.services import suppress
from tests.tenant_apps.accounts.factories import make_contact
from tests.tenant_apps.web.conftest import signed_in

__all__ = ["make_contact"]


@pytest.fixture
def web(org, member):
    return lambda role: signed_in(org, member(role=role))


def test_the_lead_page_sends_an_email(web, make_lead, org, smtp):
    client = web(Role.MANAGER)
    lead = make_lead(name="Jane", email="jane@customer.test")
    page = client.get(f"/leads/{lead.pk}/")
    assert f'action="/leads/{lead.pk}/emails/send/"' in page.content.decode()
    response = client.post(f"/leads/{lead.pk}/emails/send/", {"subject": "Hello", "body": "Hi Jane"})
    assert (response.status_code, response["Location"]) == (302, f"/leads/{lead.pk}/")
    [message] = smtp.messages
    assert message.recipients == ["jane@customer.test"] and message["From"] == client.user.email
    with schema_context(org.schema_name):
        recorded = Activity.objects.get(lead=lead, type=ActivityType.EMAIL)
    assert recorded.message_id == message["Message-ID"]
    assert "Email sent to jane@customer.test." in client.get(f"/leads/{lead.pk}/").content.decode()


def test_refusals_are_flash_messages_and_viewers_cannot_send(web, make_lead, org, smtp):
    lead = make_lead(name="Jane", email="jane@customer.test")
    with schema_context(org.schema_name):
        suppress("jane@customer.test", SuppressionReason.UNSUBSCRIBED)
    client = web(Role.ADMIN)
    path = f"/leads/{lead.pk}/emails/send/"
    refused = client.post(path, {"subject": "S", "body": "B"}, HTTP_X_REQUESTED_WITH="fetch")
    assert refused.status_code == 400 and refused.json()["code"] == "do_not_contact"
    missing = client.post(path, {"body": "B"}, HTTP_X_REQUESTED_WITH="fetch")
    assert missing.status_code == 400 and "Subject" in missing.json()["message"]
    viewer = web(Role.VIEWER).post(path, {"subject": "S", "body": "B", "to": "x@y.test"})
    assert viewer.status_code in (302, 403)
    assert smtp.messages == []


def test_the_contact_page_sends_an_email_from_its_composer(web, make_contact, org, smtp):
    client = web(Role.REP)
    contact = make_contact(name="Carl", email="carl@customer.test")
    page = client.get(f"/contacts/{contact.pk}/").content.decode()
    assert f'action="/contacts/{contact.pk}/emails/send/"' in page
    response = client.post(f"/contacts/{contact.pk}/emails/send/", {"subject": "Hello", "body": "Hi Carl"})
    assert (response.status_code, response["Location"]) == (302, f"/contacts/{contact.pk}/")
    [message] = smtp.messages
    assert message.recipients == ["carl@customer.test"]
    with schema_context(org.schema_name):
        assert (
            Activity.objects.get(contact=contact, type=ActivityType.EMAIL).message_id == message["Message-ID"]
        )
    assert "Email sent to carl@customer.test." in client.get(f"/contacts/{contact.pk}/").content.decode()
    refused = web(Role.VIEWER).post(
        f"/contacts/{contact.pk}/emails/send/", {"subject": "S", "body": "B"}, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert refused.status_code == 403 and len(smtp.messages) == 1
