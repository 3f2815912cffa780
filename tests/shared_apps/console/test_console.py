"""The operators' console on the root domain: sign-in, the organization list, provisioning, suspension."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization, OrganizationStatus
from shared_apps.users.models import User
from tests.conftest import PASSWORD, host_of


@pytest.fixture
def console(operator) -> Client:
    client = Client(HTTP_HOST=host_of(None))
    client.force_login(operator)
    return client


def test_the_console_is_for_signed_in_operators(public, operator):
    anonymous = Client(HTTP_HOST=host_of(None))
    response = anonymous.get("/")
    assert (response.status_code, response["Location"]) == (302, "/sign-in/?next=/")
    wrong = anonymous.post("/sign-in/", {"email": operator.email, "password": "wrong-password"})
    assert wrong.status_code == 400
    signed = anonymous.post("/sign-in/", {"email": operator.email, "password": PASSWORD})
    assert (signed.status_code, signed["Location"]) == (302, "/")
    assert anonymous.get("/").status_code == 200
    assert anonymous.post("/sign-out/").status_code == 302
    assert anonymous.get("/").status_code == 302


def test_users_of_the_public_schema_who_are_not_operators_are_refused(public):
    plain = User.objects.create_user("plain@platform.test", PASSWORD)
    client = Client(HTTP_HOST=host_of(None))
    assert client.post("/sign-in/", {"email": plain.email, "password": PASSWORD}).status_code == 400
    client.force_login(plain)
    assert client.get("/").status_code == 403


def test_members_cannot_sign_in_to_the_console(org, member):
    admin = member(role="admin")
    client = Client(HTTP_HOST=host_of(None))
    assert client.post("/sign-in/", {"email": admin.email, "password": PASSWORD}).status_code == 400


def test_the_list_shows_organizations_with_links_and_the_admin(console):
    body = console.get("/").content.decode()
    assert "Acme Test" in body and "Globex Test" in body and "Template" not in body
    assert 'href="http://acme.testserver.local/"' in body and 'href="/admin/"' in body
    assert "deleted" not in console.get("/?status=suspended").content.decode().lower().split("<tbody>")[1]


def test_provisioning_an_organization(console, public):
    response = console.post(
        "/organizations/",
        {
            "name": "Initech",
            "slug": "initech-web",
            "plan": "team",
            "admin_email": "boss@initech.example",
            "admin_name": "Bill",
            "admin_password": "a-long-passphrase-2026",
        },
    )
    assert (response.status_code, response["Location"]) == (302, "/")
    organization = Organization.objects.get(slug="initech-web")
    assert (organization.plan, organization.status) == ("team", OrganizationStatus.ACTIVE)
    with schema_context(organization.schema_name):
        assert User.objects.get().email == "boss@initech.example"
    assert "Initech is ready at initech-web.testserver.local" in console.get("/").content.decode()
    member = Client(HTTP_HOST="initech-web.testserver.local")
    signed = member.post("/sign-in/", {"email": "boss@initech.example", "password": "a-long-passphrase-2026"})
    assert signed.status_code == 302


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"slug": "admin"}, "slug", "is reserved"),
        ({"slug": "acme"}, None, "already exists"),
        ({"slug": "Bad Slug"}, "slug", "lowercase"),
        ({"admin_password": "123"}, "admin_password", "too short"),
        ({"admin_email": "nope"}, "admin_email", "valid email"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_provisioning_errors_show_on_the_form(console, public, data, field, message):
    body = {
        "name": "Oops",
        "slug": "oops-web",
        "plan": "free",
        "admin_email": "a@oops.example",
        "admin_password": "a-long-passphrase-2026",
        **data,
    }
    response = console.post("/organizations/", body)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Organization.objects.filter(name="Oops").exists()


def test_suspending_and_reactivating(console, public, org):
    response = console.post("/organizations/acme/status/", {"status": "suspended"})
    assert response.status_code == 302
    assert Organization.objects.get(slug="acme").status == OrganizationStatus.SUSPENDED
    assert Client(HTTP_HOST=host_of(org)).get("/sign-in/").status_code == 403
    console.post("/organizations/acme/status/", {"status": "active"})
    assert Organization.objects.get(slug="acme").status == OrganizationStatus.ACTIVE
    bad = console.post("/organizations/acme/status/", {"status": "deleted"}, follow=True)
    assert "Status must be active or suspended." in bad.content.decode()
    missing = console.post("/organizations/nope/status/", {"status": "active"}, follow=True)
    assert "No such organization." in missing.content.decode()


def test_console_forms_are_csrf_protected(public, operator):
    client = Client(HTTP_HOST=host_of(None), enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post("/organizations/acme/status/", {"status": "suspended"}).status_code == 403
    assert Organization.objects.get(slug="acme").status == OrganizationStatus.ACTIVE


def test_the_organization_list_page_is_paginated(console, monkeypatch):
    from shared_apps.console import directory

    monkeypatch.setattr(directory, "PAGE_SIZE", 1)
    first = console.get("/").content.decode()
    assert 'rel="next"' in first and "Page 1 of" in first
    assert 'rel="prev"' in console.get("/?page=2").content.decode()
