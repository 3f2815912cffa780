"""Two-factor sign-in through the API: enrolling, the token only after the second factor (members and
operators), recovery codes, the organization's requirement; refusals name the field."""

from __future__ import annotations

import pyotp
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.apikeys import api_key_create
from shared_apps.users.models import AuthToken, Role
from tests.conftest import PASSWORD, client_for
from tests.shared_apps.mfa.support import audit_actions, enrol


def token(organization, email, **extra):
    path = "/api/auth/token/" if organization else "/api/platform/auth/token/"
    return client_for(organization).post(path, {"email": email, "password": PASSWORD, **extra}, format="json")


def test_a_member_enrols_through_the_api_and_the_secret_is_not_shown_again(org, member):
    user = member(role=Role.VIEWER)
    client = client_for(org, user)
    assert client.get("/api/me/two-factor/").json()["enabled"] is False
    setup = client.post("/api/me/two-factor/setup/").json()
    assert setup["otpauth_uri"].startswith("otpauth://totp/") and setup["qr_svg"].startswith("<svg")
    wrong = client.post("/api/me/two-factor/confirm/", {"code": "abc"}, format="json")
    assert (wrong.status_code, list(wrong.json()["errors"])) == (400, ["code"])
    missing = client.post("/api/me/two-factor/confirm/", {}, format="json")
    assert (missing.status_code, list(missing.json()["errors"])) == (400, ["code"])
    confirmed = client.post(
        "/api/me/two-factor/confirm/", {"code": pyotp.TOTP(setup["secret"]).now()}, format="json"
    )
    assert confirmed.status_code == 200 and len(confirmed.json()["recovery_codes"]) == 10
    status = client.get("/api/me/two-factor/").json()
    assert (status["enabled"], status["recovery_codes_left"]) == (True, 10)
    assert setup["secret"] not in str(status)
    assert client.post("/api/me/two-factor/setup/").json()["code"] == "two_factor_already_enabled"
    assert "two_factor.enabled" in audit_actions(org, user)


def test_the_token_needs_the_second_factor(org, member):
    enrolled = enrol(member(), org)
    email = enrolled.user.email
    # a wrong password says nothing about the second factor
    assert token(org, email, password="nope").json()["code"] == "invalid_credentials"
    asked = token(org, email)
    assert asked.status_code == 401
    assert (asked.json()["code"], list(asked.json()["errors"])) == ("otp_required", ["otp"])

    code = enrolled.code()
    issued = token(org, email, otp=code)
    assert issued.status_code == 200 and issued.json()["token"].startswith("lpt_")
    replayed = token(org, email, otp=code)
    assert replayed.status_code == 400
    assert (replayed.json()["code"], list(replayed.json()["errors"])) == ("invalid_otp", ["otp"])

    recovery = token(org, email, recovery_code=enrolled.recovery_codes[0])
    assert recovery.status_code == 200
    reused = token(org, email, recovery_code=enrolled.recovery_codes[0])
    assert (reused.status_code, list(reused.json()["errors"])) == (400, ["recovery_code"])

    actions = audit_actions(org, enrolled.user)
    assert actions.count("sign_in.second_factor_failed") == 2
    assert actions.count("two_factor.recovery_code_used") == 1
    with schema_context(org.schema_name):
        used = AuditEvent.objects.get(action="two_factor.recovery_code_used")
        assert used.changes == {"recovery_codes_left": 9} and used.ip


def test_an_operator_token_needs_the_second_factor_too(operator):
    enrolled = enrol(operator, None)
    assert token(None, operator.email).json()["code"] == "otp_required"
    assert token(None, operator.email, otp=enrolled.code()).status_code == 200
    assert "sign_in.second_factor_failed" not in audit_actions(None, operator)


def test_an_operator_enrols_on_the_platform_api(operator):
    client = client_for(None, operator)
    setup = client.post("/api/platform/me/two-factor/setup/").json()
    confirmed = client.post(
        "/api/platform/me/two-factor/confirm/", {"code": pyotp.TOTP(setup["secret"]).now()}, format="json"
    )
    assert confirmed.status_code == 200
    assert client.get("/api/platform/me/two-factor/").json()["enabled"] is True
    assert "two_factor.enabled" in audit_actions(None, operator)


def test_recovery_codes_regenerated_and_two_factor_turned_off(org, member):
    user = member()
    client = client_for(org, user)  # the token is issued before enrolment
    enrolled = enrol(user, org)
    fresh = client.post("/api/me/two-factor/recovery-codes/", {"code": enrolled.code()}, format="json")
    assert fresh.status_code == 200 and not set(fresh.json()["recovery_codes"]) & set(enrolled.recovery_codes)
    refused = client.post(
        "/api/me/two-factor/disable/", {"password": "wrong", "code": enrolled.code(1)}, format="json"
    )
    assert (refused.status_code, list(refused.json()["errors"])) == (400, ["password"])
    off = client.post(
        "/api/me/two-factor/disable/", {"password": PASSWORD, "code": enrolled.code(1)}, format="json"
    )
    assert off.status_code == 204
    assert token(org, user.email).status_code == 200  # no second factor any more
    actions = audit_actions(org, user)
    assert {"two_factor.recovery_codes_regenerated", "two_factor.disabled"} <= set(actions)


def test_an_api_key_cannot_manage_anyones_second_factor(org, member):
    admin = member(role=Role.ADMIN)
    with schema_context(org.schema_name):
        raw, _ = api_key_create(actor=admin, name="integration", scope="write")
    client = client_for(org)
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.post("/api/me/two-factor/setup/").status_code == 403
    assert client.get("/api/me/two-factor/").status_code == 403


def test_code_attempts_are_throttled(org, member, settings):
    settings.THROTTLE_SIGN_IN_RATE = "2/min"
    client = client_for(org, member())
    client.post("/api/me/two-factor/setup/")
    statuses = [
        client.post("/api/me/two-factor/confirm/", {"code": "000000"}, format="json").status_code
        for _ in range(3)
    ]
    assert statuses[-1] == 429


def test_an_organization_can_require_two_factor(org, member):
    admin = member(role=Role.ADMIN)
    admin_client = client_for(org, admin)
    rep = member(role=Role.REP)
    rep_client = client_for(org, rep)  # a token issued before the rule
    enrolled = enrol(member(role=Role.REP), org)

    assert (
        rep_client.put("/api/settings/two-factor/", {"require_two_factor": True}, format="json").status_code
        == 403
    )
    bad = admin_client.put("/api/settings/two-factor/", {"require_two_factor": "maybe"}, format="json")
    assert (bad.status_code, list(bad.json()["errors"])) == (400, ["require_two_factor"])
    # the admin's own token: admins are members too, and this one has no authenticator, so it is refused next
    on = admin_client.put("/api/settings/two-factor/", {"require_two_factor": True}, format="json")
    assert (on.status_code, on.json()) == (200, {"require_two_factor": True})
    with schema_context(org.schema_name):
        event = AuditEvent.objects.get(action="settings.changed")
        assert event.changes == {"require_two_factor": [False, True]} and event.actor_id == admin.pk
        # the tokens of members without an authenticator were issued without a second factor: gone
        assert not AuthToken.objects.filter(user__in=[admin, rep]).exists()
    assert rep_client.get("/api/me/").status_code == 401

    refused = token(org, rep.email)
    assert (refused.status_code, refused.json()["code"]) == (403, "two_factor_enrollment_required")
    assert token(org, enrolled.user.email, otp=enrolled.code()).status_code == 200

    # an enrolled member cannot turn it off while the organization requires it
    enrolled_client = client_for(org)
    enrolled_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {token(org, enrolled.user.email, otp=enrolled.code(1)).json()['token']}"
    )
    kept = enrolled_client.post(
        "/api/me/two-factor/disable/",
        {"password": PASSWORD, "code": enrolled.recovery_codes[0]},
        format="json",
    )
    assert (kept.status_code, kept.json()["code"]) == (409, "two_factor_required")
    assert enrolled_client.get("/api/me/two-factor/").json()["enforced"] is True


def test_the_requirement_is_one_organizations_only(org, other_org, member):
    admin_client = client_for(org, member(role=Role.ADMIN))
    assert (
        admin_client.put("/api/settings/two-factor/", {"require_two_factor": True}, format="json").status_code
        == 200
    )
    globex_rep = member(organization=other_org)
    assert token(other_org, globex_rep.email).status_code == 200


def test_an_admin_resets_a_members_lost_authenticator(org, member):
    enrolled = enrol(member(), org)
    path = f"/api/members/{enrolled.user.pk}/two-factor/reset/"
    assert client_for(org, member(role=Role.MANAGER)).post(path).status_code == 403
    admin_client = client_for(org, member(role=Role.ADMIN))
    assert admin_client.post("/api/members/987654/two-factor/reset/").json()["code"] == "member_not_found"
    assert admin_client.post(path).status_code == 204
    assert token(org, enrolled.user.email).status_code == 200  # the password alone again
    assert admin_client.post(path).json()["code"] == "two_factor_not_enabled"
    with schema_context(org.schema_name):
        reset = AuditEvent.objects.get(action="two_factor.reset")
        assert reset.target_id == str(enrolled.user.pk)
