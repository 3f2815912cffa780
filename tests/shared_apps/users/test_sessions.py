"""A new password revokes the member's API tokens and ends their other sessions; deactivation ends every
session and token, and reactivation brings none of them back."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.users import services
from shared_apps.users.models import AuthToken, Role, User
from tests.conftest import PASSWORD, client_for, host_of
from tests.tenant_apps.web.conftest import signed_in

NEW_PASSWORD = "a-much-longer-passphrase-2026"


def test_changing_the_password_revokes_tokens_and_ends_other_sessions(org, member):
    rep = member(role=Role.REP)
    token_client = client_for(org, rep)
    other_browser = signed_in(org, rep)
    this_browser = signed_in(org, rep)
    assert token_client.get("/api/me/").status_code == 200
    changed = this_browser.post(
        "/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    assert this_browser.get("/").status_code == 200  # the session that changed it stays
    assert other_browser.get("/").status_code == 302
    assert token_client.get("/api/me/").status_code == 401
    with schema_context(org.schema_name):
        assert not AuthToken.objects.filter(user=rep).exists()


def test_an_operators_password_reset_revokes_the_users_tokens(org, member):
    rep = member(role=Role.REP)
    token_client = client_for(org, rep)
    with schema_context(org.schema_name):
        user = User.objects.get(pk=rep.pk)
        user.set_password(NEW_PASSWORD)  # what the admin's and any other reset form do
        user.save()
    assert token_client.get("/api/me/").status_code == 401


def test_reactivating_a_member_brings_back_no_session_or_token(org, member, api):
    admin = api(Role.ADMIN)
    rep = member(role=Role.REP)
    browser = signed_in(org, rep)
    token_client = client_for(org, rep)
    assert admin.post(f"/api/members/{rep.pk}/deactivate/").status_code == 200
    assert browser.get("/").status_code == 302
    assert admin.post(f"/api/members/{rep.pk}/reactivate/").status_code == 200
    assert browser.get("/").status_code == 302
    assert token_client.get("/api/me/").status_code == 401
    # signing in again works
    fresh = Client(HTTP_HOST=host_of(org))
    assert fresh.post("/sign-in/", {"email": rep.email, "password": PASSWORD}).status_code == 302
    assert fresh.get("/").status_code == 200


def test_a_member_deactivated_behind_the_services_back_is_not_revived_either(org, member):
    rep = member(role=Role.REP)
    browser = signed_in(org, rep)
    with schema_context(org.schema_name):
        User.objects.filter(pk=rep.pk).update(is_active=False)
        services.member_set_active(member_id=rep.pk, active=True)
    assert browser.get("/").status_code == 302


def test_sessions_made_before_the_upgrade_stay_valid(org, member):
    rep = member(role=Role.REP)
    with schema_context(org.schema_name):
        user = User.objects.get(pk=rep.pk)
    assert user.session_epoch == 0
    assert user.get_session_auth_hash() == AbstractBaseUser._get_session_auth_hash(user)
