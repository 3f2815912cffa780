"""Changing one's email: verified by a link sent to the new address; nothing changes until it is followed."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role, User
from tests.conftest import client_for, host_of
from tests.tenant_apps.web.conftest import signed_in

from .conftest import link_in


def test_the_email_changes_only_when_the_link_sent_to_it_is_followed(org, member, smtp):
    rep = member(role=Role.REP)
    api = client_for(org, rep)
    asked = api.post("/api/me/email/", {"email": "New.Address@acme.test"}, format="json")
    assert asked.status_code == 202
    [message] = smtp.messages
    assert message.recipients == ["new.address@acme.test"]
    link = link_in(smtp, "new.address@acme.test")
    assert link.startswith(f"https://{host_of(org)}/settings/email-change/")
    with schema_context(org.schema_name):
        assert User.objects.get(pk=rep.pk).email == rep.email  # not yet
    visitor = Client(HTTP_HOST=host_of(org))
    path = urlsplit(link).path
    assert visitor.get(path).status_code == 200  # asks; a mail scanner changes nothing
    with schema_context(org.schema_name):
        assert User.objects.get(pk=rep.pk).email == rep.email
    assert visitor.post(path).status_code == 200
    with schema_context(org.schema_name):
        assert User.objects.get(pk=rep.pk).email == "new.address@acme.test"
        actions = set(AuditEvent.objects.filter(target_id=str(rep.pk)).values_list("action", flat=True))
    assert {"email.change_requested", "email.changed"} <= actions
    assert visitor.post(path).status_code == 400  # used
    assert Client(HTTP_HOST=host_of(org)).post(path.replace("/email/", "/email/x")).status_code == 400


def test_an_email_another_member_has_is_a_400_naming_the_field(org, member, smtp):
    rep = member(role=Role.REP)
    other = member(role=Role.REP)
    api = client_for(org, rep)
    taken = api.post("/api/me/email/", {"email": other.email}, format="json")
    assert taken.status_code == 400 and taken.json()["errors"].keys() == {"email"}
    invalid = api.post("/api/me/email/", {"email": "nope"}, format="json")
    assert invalid.status_code == 400 and "email" in invalid.json()["errors"]
    assert not smtp.messages


def test_a_link_whose_address_was_taken_meanwhile_changes_nothing(org, member, smtp):
    rep = member(role=Role.REP)
    client_for(org, rep).post("/api/me/email/", {"email": "wanted@acme.test"}, format="json")
    path = urlsplit(link_in(smtp, "wanted@acme.test")).path
    member(role=Role.REP, email="wanted@acme.test")
    assert Client(HTTP_HOST=host_of(org)).post(path).status_code == 400
    with schema_context(org.schema_name):
        assert User.objects.get(pk=rep.pk).email == rep.email


def test_a_link_does_not_work_on_another_organizations_host(org, other_org, member, smtp):
    rep = member(role=Role.REP)
    client_for(org, rep).post("/api/me/email/", {"email": "moved@acme.test"}, format="json")
    path = urlsplit(link_in(smtp, "moved@acme.test")).path
    assert Client(HTTP_HOST=host_of(other_org)).post(path).status_code == 400


def test_the_security_page_sends_the_link(org, member, smtp):
    rep = member(role=Role.REP)
    browser = signed_in(org, rep)
    taken = browser.post("/settings/security/", {"email": rep.email})
    assert taken.status_code == 400
    assert browser.post("/settings/security/", {"email": "paged@acme.test"}).status_code == 302
    assert link_in(smtp, "paged@acme.test")
