"""The audit log pages: /settings/audit-log/ for an organization's admins, /audit-log/ on the console."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.audit.services import audit_record
from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tests.conftest import host_of


def signed_in(organization: Organization | None, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(organization))
    with schema_context(organization.schema_name if organization else "public"):
        client.force_login(user)
    return client


def test_admins_see_filter_and_page_the_log_with_a_csv_link(
    org: Organization, other_org: Organization, member: Callable[..., User]
) -> None:
    client = signed_in(org, member(Role.ADMIN))
    with schema_context(org.schema_name):
        for number in range(55):
            audit_record("test.paged", target_type="test", target_repr=f"hook-{number}")
        audit_record("member.deactivated", target_repr="someone@acme.test")
    with schema_context(other_org.schema_name):
        audit_record("member.deactivated", target_repr="globex-secret@globex.test")

    page = client.get("/settings/audit-log/", {"action": "member."})
    assert page.status_code == 200
    body = page.content.decode()
    assert "someone@acme.test" in body and "globex-secret" not in body
    assert 'href="/api/audit-log/export.csv?action=member."' in body
    assert 'href="/settings/audit-log/"' in client.get("/settings/").content.decode()  # on the settings index

    first = client.get("/settings/audit-log/", {"action": "test.paged"})
    assert first.content.decode().count("hook-") == 50
    older = first.context["next_url"]
    assert older and "cursor=" in older and "action=test.paged" in older
    second = client.get(older)
    assert second.content.decode().count("hook-") == 5 and "hook-0 <small>" in second.content.decode()


def test_malformed_filters_are_a_400_naming_the_field(org: Organization, member: Callable[..., User]) -> None:
    client = signed_in(org, member(Role.ADMIN))
    page = client.get("/settings/audit-log/", {"since": "last tuesday"})
    assert page.status_code == 400 and "since:" in page.content.decode()
    assert client.get("/settings/audit-log/", {"cursor": "nope"}).status_code == 400


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP, Role.VIEWER])
def test_members_below_admin_get_a_403_and_no_nav_link(
    org: Organization, member: Callable[..., User], role: str
) -> None:
    client = signed_in(org, member(role))
    assert client.get("/settings/audit-log/").status_code == 403
    assert "/settings/audit-log/" not in client.get("/").content.decode()


def test_operators_see_the_platform_log_on_the_console(operator: User, org: Organization) -> None:
    audit_record("organization.suspended", target_type="organizations.organization", target_repr="acme")
    with schema_context(org.schema_name):
        audit_record("member.deactivated", target_repr="acme-member@acme.test")
    page = signed_in(None, operator).get("/audit-log/", {"action": "organization."})
    assert page.status_code == 200
    body = page.content.decode()
    assert "organization.suspended" in body and "acme-member" not in body
    assert 'href="/api/platform/audit-log/export.csv?action=organization."' in body
    with schema_context("public"):
        rep = User.objects.create_user("not-staff@platform.test", "x-long-password-1")
    assert signed_in(None, rep).get("/audit-log/").status_code == 403


def test_the_django_admin_shows_the_platform_log_read_only(operator: User) -> None:
    event = audit_record("organization.deleted", target_type="organizations.organization", target_repr="x")
    admin = signed_in(None, operator)
    assert admin.get("/admin/audit/auditevent/").status_code == 200
    assert admin.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200  # a view page
    assert admin.get("/admin/audit/auditevent/add/").status_code == 403
    assert admin.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
