"""Members see and end their own sessions and tokens; admins end any member's; a password change ends the
other sessions and revokes the tokens."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.apikeys import api_key_create
from shared_apps.users.models import ApiKeyScope, AuthToken, Role, UserSession
from tests.conftest import PASSWORD, client_for, host_of
from tests.tenant_apps.web.conftest import signed_in

NEW_PASSWORD = "a-much-longer-passphrase-2026"


def _sign_in(org, user, agent: str) -> Client:
    browser = Client(HTTP_HOST=host_of(org), HTTP_USER_AGENT=agent, REMOTE_ADDR="198.51.100.7")
    assert browser.post("/sign-in/", {"email": user.email, "password": PASSWORD}).status_code == 302
    return browser


def test_a_member_lists_and_ends_their_sessions(org, member):
    rep = member(role=Role.REP)
    laptop = _sign_in(org, rep, "Laptop/1.0")
    phone = _sign_in(org, rep, "Phone/2.0")
    listed = laptop.get("/api/me/sessions/").json()
    assert {(row["user_agent"], row["current"], row["ip"]) for row in listed} == {
        ("Laptop/1.0", True, "198.51.100.7"),
        ("Phone/2.0", False, "198.51.100.7"),
    }
    [phone_row] = [row for row in listed if not row["current"]]
    assert laptop.delete(f"/api/me/sessions/{phone_row['id']}/").status_code == 204
    assert phone.get("/").status_code == 302  # signed out
    assert laptop.get("/").status_code == 200
    assert [row["user_agent"] for row in laptop.get("/api/me/sessions/").json()] == ["Laptop/1.0"]
    with schema_context(org.schema_name):
        assert AuditEvent.objects.filter(action="session.ended", actor_id=rep.pk).exists()


def test_ending_the_other_sessions_keeps_this_one_and_anothers_session_is_not_found(org, member):
    rep = member(role=Role.REP)
    other = member(role=Role.REP)
    here = _sign_in(org, rep, "Here/1")
    there = _sign_in(org, rep, "There/1")
    elsewhere = _sign_in(org, other, "Other/1")
    with schema_context(org.schema_name):
        others_row = UserSession.objects.get(user=other)
    assert here.delete(f"/api/me/sessions/{others_row.pk}/").status_code == 404
    assert here.delete("/api/me/sessions/").json() == {"sessions_ended": 1}
    assert (here.get("/").status_code, there.get("/").status_code) == (200, 302)
    assert elsewhere.get("/").status_code == 200


def test_the_security_page_lists_and_ends_sessions_and_tokens(org, member):
    rep = member(role=Role.REP)
    here = _sign_in(org, rep, "Here/1")
    there = _sign_in(org, rep, "There/1")
    token_client = client_for(org, rep)
    page = here.get("/settings/security/")
    assert page.status_code == 200 and b"There/1" in page.content and b"This session" in page.content
    with schema_context(org.schema_name):
        there_row = UserSession.objects.get(user=rep, user_agent="There/1")
        token = AuthToken.objects.get(user=rep)
    assert here.post(f"/settings/security/sessions/{there_row.pk}/end/").status_code == 302
    assert there.get("/").status_code == 302
    assert here.post(f"/settings/security/tokens/{token.pk}/revoke/").status_code == 302
    assert token_client.get("/api/me/").status_code == 401
    assert here.post("/settings/security/tokens/999999/revoke/").status_code == 404


def test_a_member_lists_and_revokes_their_tokens(org, member):
    rep = member(role=Role.REP)
    first, second, third = client_for(org, rep), client_for(org, rep), client_for(org, rep)
    listed = first.get("/api/me/tokens/").json()
    assert len(listed) == 3 and sum(row["current"] for row in listed) == 1
    assert "digest" not in listed[0] and "token" not in listed[0]
    [current] = [row for row in listed if row["current"]]
    others = [row["id"] for row in listed if not row["current"]]
    assert first.delete(f"/api/me/tokens/{others[0]}/").status_code == 204
    assert first.delete("/api/me/tokens/").json() == {"tokens_revoked": 1}
    assert [row["id"] for row in first.get("/api/me/tokens/").json()] == [current["id"]]
    assert second.get("/api/me/").status_code == 401 and third.get("/api/me/").status_code == 401


def test_an_api_key_cannot_manage_its_creators_account(org, member):
    rep = member(role=Role.REP)
    with schema_context(org.schema_name):
        raw, _ = api_key_create(actor=rep, name="integration", scope=ApiKeyScope.WRITE)
    key = Client(HTTP_HOST=host_of(org), HTTP_X_API_KEY=raw)
    assert key.get("/api/me/sessions/").status_code == 403
    assert key.delete("/api/me/tokens/").status_code == 403
    assert key.post("/api/me/password/", {}, content_type="application/json").status_code == 403


def test_an_admin_ends_every_session_and_token_of_a_member(org, member, api):
    rep = member(role=Role.REP)
    browser = _sign_in(org, rep, "Rep/1")
    token_client = client_for(org, rep)
    assert api(Role.MANAGER).post(f"/api/members/{rep.pk}/sessions/end/").status_code == 403
    ended = api(Role.ADMIN).post(f"/api/members/{rep.pk}/sessions/end/")
    assert ended.json() == {"sessions_ended": 1, "tokens_revoked": 1}
    assert browser.get("/").status_code == 302
    assert token_client.get("/api/me/").status_code == 401
    assert _sign_in(org, rep, "Rep/2").get("/").status_code == 200  # still a member
    assert api(Role.ADMIN).post("/api/members/999999/sessions/end/").status_code == 404
    admin_browser = signed_in(org, member(role=Role.ADMIN))
    assert admin_browser.post(f"/settings/members/{rep.pk}/sessions/end/").status_code == 302
    with schema_context(org.schema_name):
        assert AuditEvent.objects.filter(action="session.ended", target_id=str(rep.pk)).count() == 2


def test_changing_the_password_through_the_api(org, member):
    rep = member(role=Role.REP)
    here = _sign_in(org, rep, "Here/1")
    there = _sign_in(org, rep, "There/1")
    token_client = client_for(org, rep)
    wrong = here.post(
        "/api/me/password/",
        {"old_password": "nope", "new_password": NEW_PASSWORD},
        content_type="application/json",
    )
    assert wrong.status_code == 400 and "old_password" in wrong.json()["errors"]
    weak = here.post(
        "/api/me/password/", {"old_password": PASSWORD, "new_password": "1"}, content_type="application/json"
    )
    assert weak.status_code == 400 and "new_password" in weak.json()["errors"]
    changed = here.post(
        "/api/me/password/",
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        content_type="application/json",
    )
    assert changed.status_code == 204
    assert here.get("/").status_code == 200  # the session that changed it stays
    assert there.get("/").status_code == 302
    assert token_client.get("/api/me/").status_code == 401
    assert [row["user_agent"] for row in here.get("/api/me/sessions/").json()] == ["Here/1"]
    with schema_context(org.schema_name):
        assert AuditEvent.objects.filter(action="password.changed", actor_id=rep.pk).exists()


def test_the_password_page_removes_the_other_sessions_from_the_list(org, member):
    rep = member(role=Role.REP)
    here = _sign_in(org, rep, "Here/1")
    _sign_in(org, rep, "There/1")
    changed = here.post(
        "/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    with schema_context(org.schema_name):
        assert list(UserSession.objects.filter(user=rep).values_list("user_agent", flat=True)) == ["Here/1"]


def _seen_long_ago(org, browser: Client) -> None:
    with schema_context(org.schema_name):  # the session lives in the organization's schema
        session = browser.session
        session["_lp_seen"] = 0.0
        session.save()


def test_a_session_is_seen_again_at_most_once_a_minute_and_an_older_one_gets_its_row(org, member):
    rep = member(role=Role.REP)
    browser = _sign_in(org, rep, "Seen/1")
    with schema_context(org.schema_name):
        row = UserSession.objects.get(user=rep)
        UserSession.objects.filter(pk=row.pk).update(last_seen_at=row.last_seen_at - timedelta(hours=1))
    browser.get("/")  # the session remembers it was seen a moment ago: no write
    with schema_context(org.schema_name):
        assert UserSession.objects.get(pk=row.pk).last_seen_at < row.last_seen_at
    _seen_long_ago(org, browser)
    browser.get("/")
    with schema_context(org.schema_name):
        assert UserSession.objects.get(pk=row.pk).last_seen_at >= row.last_seen_at
        UserSession.objects.filter(pk=row.pk).delete()  # a session signed in before rows were written
    _seen_long_ago(org, browser)
    browser.get("/")
    assert [entry["user_agent"] for entry in browser.get("/api/me/sessions/").json()] == ["Seen/1"]
