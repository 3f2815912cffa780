"""Signing in (per organization), out, and changing one's password, with Django's session auth."""

from __future__ import annotations

from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.users.models import Role, User
from tests.conftest import PASSWORD, host_of
from tests.tenant_apps.web.conftest import signed_in


def test_sign_in_page_names_the_organization(anonymous, org):
    response = anonymous.get("/sign-in/?next=/pipeline/")
    assert response.status_code == 200
    body = response.content.decode()
    assert org.name in body and 'name="next" value="/pipeline/"' in body


def test_a_member_signs_in_and_lands_where_they_were_going(anonymous, member):
    rep = member(role=Role.REP)
    response = anonymous.post(
        "/sign-in/", {"email": rep.email.upper(), "password": PASSWORD, "next": "/pipeline/"}
    )
    assert (response.status_code, response["Location"]) == (302, "/pipeline/")
    assert anonymous.get("/pipeline/").status_code == 200


def test_sign_in_never_redirects_off_the_organizations_host(anonymous, member):
    rep = member(role=Role.REP)
    response = anonymous.post(
        "/sign-in/", {"email": rep.email, "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert (response.status_code, response["Location"]) == (302, "/")


def test_wrong_passwords_and_strangers_are_refused(anonymous, member, other_org):
    rep = member(role=Role.REP)
    wrong = anonymous.post("/sign-in/", {"email": rep.email, "password": "nope-nope-nope"})
    assert wrong.status_code == 400 and "Email or password is wrong" in wrong.content.decode()
    # a member of globex does not exist on acme's host
    stranger = member(role=Role.ADMIN, organization=other_org)
    response = anonymous.post("/sign-in/", {"email": stranger.email, "password": PASSWORD})
    assert response.status_code == 400
    assert anonymous.get("/").status_code == 302


def test_inactive_members_cannot_sign_in_and_their_sessions_stop(org, member, anonymous):
    rep = member(role=Role.REP)
    client = signed_in(org, rep)
    with schema_context(org.schema_name):
        User.objects.filter(pk=rep.pk).update(is_active=False)
    assert client.get("/").status_code == 302
    assert anonymous.post("/sign-in/", {"email": rep.email, "password": PASSWORD}).status_code == 400


def test_bad_sign_in_input_is_a_400_not_a_500(anonymous):
    for data in ({}, {"email": "x" * 300, "password": "p"}, {"email": "a@b.c", "password": "p\x00"}):
        assert anonymous.post("/sign-in/", data).status_code == 400


def test_sign_out_ends_the_session(web):
    client = web(Role.REP)
    assert client.get("/").status_code == 200
    assert client.get("/sign-out/").status_code == 405  # a link cannot sign anyone out
    response = client.post("/sign-out/")
    assert (response.status_code, response["Location"]) == (302, "/sign-in/")
    assert client.get("/").status_code == 302


def test_changing_the_password_keeps_this_session_and_retires_the_old_password(web, org):
    client = web(Role.REP)
    new = "a-much-longer-passphrase-2026"
    weak = client.post(
        "/password/", {"old_password": PASSWORD, "new_password1": "123", "new_password2": "123"}
    )
    assert weak.status_code == 400
    response = client.post(
        "/password/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # still signed in here
    fresh = Client(HTTP_HOST=host_of(org))
    assert fresh.post("/sign-in/", {"email": client.user.email, "password": PASSWORD}).status_code == 400
    assert fresh.post("/sign-in/", {"email": client.user.email, "password": new}).status_code == 302


def test_forms_are_csrf_protected(org, member):
    rep = member(role=Role.REP)
    client = Client(HTTP_HOST=host_of(org), enforce_csrf_checks=True)
    assert client.post("/sign-in/", {"email": rep.email, "password": PASSWORD}).status_code == 403
    page = client.get("/sign-in/")
    token = page.cookies["csrftoken"].value
    response = client.post(
        "/sign-in/", {"email": rep.email, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert client.post("/sign-out/").status_code == 403  # no token
