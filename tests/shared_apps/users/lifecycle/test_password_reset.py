"""Password reset by email: the same answer for known and unknown emails, throttled; the link works once, on
its organization's host only, and the new password ends every session and token of the member."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import AuthToken, Role, User
from tests.conftest import PASSWORD, client_for, host_of
from tests.tenant_apps.web.conftest import signed_in

from .conftest import link_in

NEW_PASSWORD = "a-fresh-reset-passphrase"


def test_known_and_unknown_emails_get_the_same_answer_and_only_a_member_gets_mail(org, member, smtp):
    rep = member(role=Role.REP)
    api = client_for(org)
    known = api.post("/api/auth/password-reset/", {"email": rep.email.upper()}, format="json")
    unknown = api.post("/api/auth/password-reset/", {"email": "nobody@acme.test"}, format="json")
    assert (known.status_code, unknown.status_code) == (202, 202)
    assert known.json() == unknown.json()
    assert [message.recipients for message in smtp.messages] == [[rep.email]]
    assert link_in(smtp, rep.email).startswith(f"https://{host_of(org)}/password-reset/")
    page = Client(HTTP_HOST=host_of(org))
    assert b"Check your email" in page.post("/password-reset/", {"email": "nobody@acme.test"}).content
    with schema_context(org.schema_name):
        requested = AuditEvent.objects.filter(action="password.reset_requested")
        assert requested.count() == 3 and not requested.exclude(actor_id=None).exists()


def test_following_the_link_sets_the_password_and_ends_every_session_and_token(org, member, smtp):
    rep = member(role=Role.REP)
    token_client = client_for(org, rep)
    browser = signed_in(org, rep)
    client_for(org).post("/api/auth/password-reset/", {"email": rep.email}, format="json")
    path = urlsplit(link_in(smtp, rep.email)).path
    visitor = Client(HTTP_HOST=host_of(org))
    assert visitor.get(path).status_code == 200
    weak = visitor.post(path, {"new_password": "123"})
    assert weak.status_code == 400
    done = visitor.post(path, {"new_password": NEW_PASSWORD})
    assert (done.status_code, done["Location"]) == (302, "/sign-in/")
    with schema_context(org.schema_name):
        assert User.objects.get(pk=rep.pk).check_password(NEW_PASSWORD)
        assert not AuthToken.objects.filter(user=rep).exists()
        assert AuditEvent.objects.filter(action="password.reset", actor_id=rep.pk).exists()
    assert token_client.get("/api/me/").status_code == 401
    assert browser.get("/").status_code == 302
    # once used, the link is dead (the password hash it was made from changed)
    assert visitor.get(path).status_code == 400
    assert visitor.post(path, {"new_password": "another-new-passphrase"}).status_code == 400


def test_the_api_confirms_with_uid_and_token_and_names_bad_fields(org, member, smtp):
    rep = member(role=Role.REP)
    client_for(org).post("/api/auth/password-reset/", {"email": rep.email}, format="json")
    _, _, uid, token, _ = urlsplit(link_in(smtp, rep.email)).path.split("/")
    api = client_for(org)
    weak = api.post(
        "/api/auth/password-reset/confirm/", {"uid": uid, "token": token, "new_password": "1"}, format="json"
    )
    assert weak.status_code == 400 and "new_password" in weak.json()["errors"]
    missing = api.post("/api/auth/password-reset/confirm/", {"uid": uid}, format="json")
    assert missing.status_code == 400 and {"token", "new_password"} <= set(missing.json()["errors"])
    body = {"uid": uid, "token": token, "new_password": NEW_PASSWORD}
    assert api.post("/api/auth/password-reset/confirm/", body, format="json").status_code == 204
    again = api.post("/api/auth/password-reset/confirm/", body, format="json")
    assert (again.status_code, again.json()["code"]) == (400, "reset_link_invalid")


def test_a_reset_link_does_not_work_on_another_organizations_host(org, other_org, member, smtp):
    rep = member(role=Role.REP)
    client_for(org).post("/api/auth/password-reset/", {"email": rep.email}, format="json")
    _, _, uid, token, _ = urlsplit(link_in(smtp, rep.email)).path.split("/")
    body = {"uid": uid, "token": token, "new_password": NEW_PASSWORD}
    answer = client_for(other_org).post("/api/auth/password-reset/confirm/", body, format="json")
    assert answer.status_code == 400
    assert Client(HTTP_HOST=host_of(other_org)).get(f"/password-reset/{uid}/{token}/").status_code == 400


def test_reset_requests_are_throttled(org, member, smtp, settings):
    settings.THROTTLE_SIGN_IN_RATE = "3/min"
    api = client_for(org)
    answers = [
        api.post("/api/auth/password-reset/", {"email": "x@acme.test"}, format="json").status_code
        for _ in range(4)
    ]
    assert answers == [202, 202, 202, 429]
    page = Client(HTTP_HOST=host_of(org)).post("/password-reset/", {"email": "x@acme.test"})
    assert page.status_code == 429


def test_attempts_with_a_reset_link_are_throttled_apart_from_sign_in(org, member, settings):
    settings.THROTTLE_SIGN_IN_RATE = "2/min"
    rep = member(role=Role.REP)
    api = client_for(org)
    body = {"uid": "MQ", "token": "guess", "new_password": NEW_PASSWORD}
    confirm = "/api/auth/password-reset/confirm/"
    answers = [api.post(confirm, body, format="json").status_code for _ in range(3)]
    assert answers == [400, 400, 429]
    other_link = {**body, "uid": "Mg"}
    assert api.post(confirm, other_link, format="json").status_code == 400
    signed_in_api = api.post("/api/auth/token/", {"email": rep.email, "password": PASSWORD}, format="json")
    assert signed_in_api.status_code == 200  # sign-in attempts are counted on their own
