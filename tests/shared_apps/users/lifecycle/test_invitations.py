"""Invitations: an admin invites an email with a role; the invitee follows the single-use, expiring link on
the organization's host, chooses a name and password, and is signed in as a member with that role."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Invitation, Role, User, token_digest
from tests.conftest import host_of
from tests.tenant_apps.web.conftest import signed_in

from .conftest import link_in

PASSWORD = "a-long-invited-passphrase"


def _invite(admin, email="new@acme.test", role="manager"):
    return admin.post("/api/members/", {"email": email, "role": role}, format="json")


def _path(link: str) -> str:
    return urlsplit(link).path


def test_an_invitation_is_emailed_and_accepting_it_makes_a_signed_in_member(api, org, smtp):
    admin = api(Role.ADMIN)
    response = _invite(admin)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["email"], body["role"], body["status"]) == ("new@acme.test", "manager", "pending")
    link = link_in(smtp, "new@acme.test")
    # the organization's primary domain, whatever host the request came on
    assert link.startswith(f"https://{host_of(org)}/invitations/")
    token = _path(link).split("/")[2]
    with schema_context(org.schema_name):
        assert not User.objects.filter(email="new@acme.test").exists()  # nothing until accepted
        stored = Invitation.objects.get(pk=body["id"])
        assert stored.digest == token_digest(token) and token not in stored.digest  # only the hash is kept
        assert timedelta(days=6) < stored.expires_at - timezone.now() <= timedelta(days=7)

    browser = Client(HTTP_HOST=host_of(org))
    page = browser.get(_path(link))
    assert page.status_code == 200 and b"new@acme.test" in page.content
    accepted = browser.post(_path(link), {"full_name": "Nina New", "password": PASSWORD})
    assert accepted.status_code == 302
    assert browser.get("/").status_code == 200  # signed in
    with schema_context(org.schema_name):
        user = User.objects.get(email="new@acme.test")
        assert (user.role, user.full_name, user.check_password(PASSWORD)) == (Role.MANAGER, "Nina New", True)
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"member.invited", "invitation.accepted"} <= actions

    again = Client(HTTP_HOST=host_of(org)).get(_path(link))
    assert again.status_code == 410 and b"already used" in again.content


def test_revoked_expired_and_replaced_links_say_so(api, org, smtp):
    admin = api(Role.ADMIN)
    revoked = _invite(admin, "gone@acme.test").json()
    revoked_link = link_in(smtp, "gone@acme.test")
    assert admin.post(f"/api/invitations/{revoked['id']}/revoke/").json()["status"] == "revoked"
    page = Client(HTTP_HOST=host_of(org)).get(_path(revoked_link))
    assert page.status_code == 410 and b"revoked" in page.content
    refused = Client(HTTP_HOST=host_of(org)).post(
        _path(revoked_link), {"full_name": "X", "password": PASSWORD}
    )
    assert refused.status_code == 410

    late = _invite(admin, "late@acme.test").json()
    late_link = link_in(smtp, "late@acme.test")
    with schema_context(org.schema_name):
        Invitation.objects.filter(pk=late["id"]).update(expires_at=timezone.now() - timedelta(minutes=1))
    page = Client(HTTP_HOST=host_of(org)).get(_path(late_link))
    assert page.status_code == 410 and b"expired" in page.content

    # resending gives a new link with a new expiry; the old one stops working
    resent = admin.post(f"/api/invitations/{late['id']}/resend/")
    assert resent.json()["status"] == "pending"
    new_link = link_in(smtp, "late@acme.test")
    assert new_link != late_link
    assert Client(HTTP_HOST=host_of(org)).get(_path(late_link)).status_code == 410
    assert Client(HTTP_HOST=host_of(org)).get(_path(new_link)).status_code == 200
    assert admin.post(f"/api/invitations/{revoked['id']}/resend/").json()["code"] == "invitation_revoked"
    with schema_context(org.schema_name):
        actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert "invitation.revoked" in actions and "invitation.resent" in actions


def test_an_invitation_link_works_only_on_its_organizations_host(api, org, other_org, smtp):
    _invite(api(Role.ADMIN))
    path = _path(link_in(smtp, "new@acme.test"))
    assert Client(HTTP_HOST=host_of(other_org)).get(path).status_code == 410
    posted = Client(HTTP_HOST=host_of(other_org)).post(path, {"full_name": "X", "password": PASSWORD})
    assert posted.status_code == 410
    with schema_context(other_org.schema_name):
        assert not User.objects.filter(email="new@acme.test").exists()


def test_bad_invitations_are_refused_naming_the_field(api, member, smtp):
    admin = api(Role.ADMIN)
    taken = member(role=Role.REP)
    assert _invite(admin, taken.email).json()["code"] == "email_taken"
    bad = _invite(admin, "not-an-email")
    assert bad.status_code == 400 and "email" in bad.json()["errors"]
    assert _invite(admin, role="boss").json()["errors"].keys() == {"role"}
    assert _invite(admin).status_code == 201
    twice = _invite(admin)
    assert (twice.status_code, twice.json()["code"]) == (409, "invitation_pending")
    assert len(smtp.messages) == 1


def test_a_weak_password_on_the_accept_page_is_shown_and_the_link_stays_usable(api, org, smtp):
    _invite(api(Role.ADMIN))
    path = _path(link_in(smtp, "new@acme.test"))
    browser = Client(HTTP_HOST=host_of(org))
    weak = browser.post(path, {"full_name": "Nina", "password": "123"})
    assert weak.status_code == 400 and b"field-error" in weak.content
    assert browser.post(path, {"full_name": "Nina", "password": PASSWORD}).status_code == 302


def test_only_admins_list_and_manage_invitations(api, smtp):
    admin = api(Role.ADMIN)
    invitation = _invite(admin).json()
    manager = api(Role.MANAGER)
    assert manager.get("/api/invitations/").status_code == 403
    assert manager.post(f"/api/invitations/{invitation['id']}/revoke/").status_code == 403
    listed = admin.get("/api/invitations/", {"status": "pending"}).json()["results"]
    assert [row["email"] for row in listed] == ["new@acme.test"]
    assert admin.get("/api/invitations/", {"status": "accepted"}).json()["results"] == []
    assert "status" in admin.get("/api/invitations/", {"status": "nope"}).json()["errors"]


def test_the_members_page_invites_for_admins_only(org, member, smtp):
    admin_browser = signed_in(org, member(role=Role.ADMIN))
    assert admin_browser.get("/settings/members/").status_code == 200
    sent = admin_browser.post("/settings/members/", {"email": "paged@acme.test", "role": "viewer"})
    assert sent.status_code == 302
    assert link_in(smtp, "paged@acme.test")
    page = admin_browser.get("/settings/members/")
    assert b"paged@acme.test" in page.content
    taken = admin_browser.post("/settings/members/", {"email": "paged@acme.test", "role": "viewer"})
    assert taken.status_code == 400
    rep_browser = signed_in(org, member(role=Role.REP))
    assert rep_browser.get("/settings/members/").status_code == 403
    refused = rep_browser.post("/settings/members/", {"email": "x@acme.test", "role": "admin"})
    assert refused.status_code == 403
    with schema_context(org.schema_name):
        invitation = Invitation.objects.get(email="paged@acme.test")
    assert rep_browser.post(f"/settings/invitations/{invitation.pk}/revoke/").status_code == 403
    assert admin_browser.post(f"/settings/invitations/{invitation.pk}/revoke/").status_code == 302
    with schema_context(org.schema_name):
        invitation.refresh_from_db()
    assert invitation.status() == "revoked"


def test_a_member_can_still_be_created_with_a_password(api, org):
    created = api(Role.ADMIN).post(
        "/api/members/", {"email": "direct@acme.test", "role": "rep", "password": PASSWORD}, format="json"
    )
    assert created.status_code == 201 and created.json()["is_active"] is True
