"""Two-factor sign-in in the browser (Django's test client, no browser needed): the code's page after the
password on an organization's host and on the operators' console, the settings page, and an organization
requiring two-factor sign-in."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyotp
import pytest
from django.contrib.auth.signals import user_logged_in
from django.test import Client

from shared_apps.users.models import Role
from tests.conftest import PASSWORD, client_for, host_of
from tests.shared_apps.mfa.support import audit_actions, enrol
from tests.tenant_apps.web.conftest import signed_in


@pytest.fixture
def sign_ins() -> Iterator[list[str]]:
    """The auth_method of every login() (what the audit log's receiver records)."""
    methods: list[str] = []

    def receiver(sender, request, user, **kwargs):
        methods.append(getattr(request, "auth_method", "password"))

    user_logged_in.connect(receiver, dispatch_uid="mfa-test")
    yield methods
    user_logged_in.disconnect(dispatch_uid="mfa-test")


def test_a_member_signs_in_with_password_then_code(org, member, sign_ins):
    enrolled = enrol(member(), org)
    browser = Client(HTTP_HOST=host_of(org))
    password = browser.post(
        "/sign-in/", {"email": enrolled.user.email, "password": PASSWORD, "next": "/tasks/"}
    )
    assert (password.status_code, password["Location"]) == (302, "/sign-in/two-factor/")
    assert browser.get("/").status_code == 302  # not signed in yet
    assert sign_ins == []
    page = browser.get("/sign-in/two-factor/")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.content.decode()

    wrong = browser.post("/sign-in/two-factor/", {"code": "12345"})
    assert wrong.status_code == 400 and "wrong" in wrong.content.decode()
    assert browser.get("/").status_code == 302
    key_before = browser.session.session_key

    right = browser.post("/sign-in/two-factor/", {"code": enrolled.code()})
    assert (right.status_code, right["Location"]) == (302, "/tasks/")
    assert browser.get("/").status_code == 200
    assert browser.session.session_key != key_before  # a new session key at login
    assert sign_ins == ["password+totp"]
    assert "sign_in.second_factor_failed" in audit_actions(org, enrolled.user)
    # the pending sign-in is spent: the page sends a second visit back to the password
    assert browser.get("/sign-in/two-factor/")["Location"] == "/sign-in/"


def test_a_recovery_code_signs_in_once(org, member, sign_ins):
    enrolled = enrol(member(), org)
    for attempt, expected in ((1, 302), (2, 400)):
        browser = Client(HTTP_HOST=host_of(org))
        browser.post("/sign-in/", {"email": enrolled.user.email, "password": PASSWORD})
        response = browser.post("/sign-in/two-factor/", {"recovery_code": enrolled.recovery_codes[0]})
        assert response.status_code == expected, attempt
    assert sign_ins == ["password+recovery_code"]
    assert "two_factor.recovery_code_used" in audit_actions(org, enrolled.user)


def test_the_code_page_without_a_password_first_goes_back_to_sign_in(org, member, settings):
    browser = Client(HTTP_HOST=host_of(org))
    assert browser.post("/sign-in/two-factor/", {"code": "123456"})["Location"] == "/sign-in/"
    enrolled = enrol(member(), org)
    settings.TWO_FACTOR_PENDING_SECONDS = 0  # the page waited too long
    browser.post("/sign-in/", {"email": enrolled.user.email, "password": PASSWORD})
    late = browser.post("/sign-in/two-factor/", {"code": enrolled.code()})
    assert late["Location"] == "/sign-in/"
    assert browser.get("/").status_code == 302


def test_code_attempts_are_throttled_like_sign_in(org, member, settings):
    settings.THROTTLE_SIGN_IN_RATE = "3/min"
    enrolled = enrol(member(), org)
    browser = Client(HTTP_HOST=host_of(org))
    browser.post("/sign-in/", {"email": enrolled.user.email, "password": PASSWORD})  # the first attempt
    statuses = [browser.post("/sign-in/two-factor/", {"code": "000000"}).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
    # throttled, even the right code waits
    assert browser.post("/sign-in/two-factor/", {"code": enrolled.code()}).status_code == 429


def test_an_operator_signs_in_to_the_console_with_a_code(operator, sign_ins):
    enrolled = enrol(operator, None)
    browser = Client(HTTP_HOST=host_of(None))
    password = browser.post("/sign-in/", {"email": operator.email, "password": PASSWORD})
    assert password["Location"] == "/sign-in/two-factor/"
    assert browser.get("/").status_code == 302
    assert browser.post("/sign-in/two-factor/", {"code": enrolled.code()})["Location"] == "/"
    assert browser.get("/").status_code == 200
    assert sign_ins == ["password+totp"]


def _enrol_on_the_page(browser: Client, path: str = "/settings/two-factor/") -> list[str]:
    assert "Set up" in browser.get(path).content.decode()
    started = browser.post(path, {"action": "start"}).content.decode()
    secret = re.search(r"Key: <code>([A-Z2-7]+)</code>", started).group(1)
    assert "<svg" in started
    confirmed = browser.post(path, {"action": "confirm", "code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200
    page = confirmed.content.decode()
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", page)
    assert len(codes) == 10
    again = browser.get(path).content.decode()
    assert secret not in again and codes[0] not in again  # shown once
    return codes


def test_a_member_sets_up_two_factor_on_the_settings_page(org, member):
    browser = signed_in(org, member(role=Role.VIEWER))
    codes = _enrol_on_the_page(browser)
    assert "Recovery codes left: 10" in browser.get("/settings/two-factor/").content.decode()
    refused = browser.post(
        "/settings/two-factor/", {"action": "disable", "password": PASSWORD, "code": "000000"}
    )
    assert refused.status_code == 400
    off = browser.post("/settings/two-factor/", {"action": "disable", "password": PASSWORD, "code": codes[0]})
    assert off.status_code == 302
    assert "Set up" in browser.get("/settings/two-factor/").content.decode()
    assert {"two_factor.enabled", "two_factor.disabled"} <= set(audit_actions(org, browser.user))


def test_an_operator_sets_up_two_factor_on_the_console(operator):
    browser = Client(HTTP_HOST=host_of(None))
    browser.force_login(operator)
    _enrol_on_the_page(browser)
    assert "two_factor.enabled" in audit_actions(None, operator)


def test_members_of_an_organization_requiring_it_are_sent_to_set_up(org, member):
    admin = member(role=Role.ADMIN)
    enrolled = enrol(admin, org)
    browser = signed_in(org, member(role=Role.REP))  # signed in before the rule
    assert browser.get("/").status_code == 200
    admin_client = client_for(org)
    admin_token = admin_client.post(
        "/api/auth/token/",
        {"email": admin.email, "password": PASSWORD, "otp": enrolled.code()},
        format="json",
    ).json()["token"]
    admin_client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_token}")
    assert (
        admin_client.put("/api/settings/two-factor/", {"require_two_factor": True}, format="json").status_code
        == 200
    )

    page = browser.get("/leads/")
    assert (page.status_code, page["Location"]) == (302, "/settings/two-factor/")
    api = browser.get("/api/me/")  # the session reaches the API no further
    assert (api.status_code, api.json()["code"]) == (403, "two_factor_enrollment_required")
    setup = browser.get("/settings/two-factor/")
    assert setup.status_code == 200 and "required here" in setup.content.decode()

    _enrol_on_the_page(browser)
    assert browser.get("/leads/").status_code == 200
    # and once on, it stays on
    assert "Turn off" not in browser.get("/settings/two-factor/").content.decode()
    # the enrolled admin's session is not held back
    admin_browser = Client(HTTP_HOST=host_of(org))
    admin_browser.post("/sign-in/", {"email": admin.email, "password": PASSWORD})
    admin_browser.post("/sign-in/two-factor/", {"code": enrolled.code(1)})
    assert admin_browser.get("/leads/").status_code == 200


def test_operators_can_be_required_to_use_two_factor(operator, settings):
    settings.TWO_FACTOR_REQUIRED_FOR_OPERATORS = True
    refused = client_for(None).post(
        "/api/platform/auth/token/", {"email": operator.email, "password": PASSWORD}, format="json"
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "two_factor_enrollment_required")
    browser = Client(HTTP_HOST=host_of(None))
    assert browser.post("/sign-in/", {"email": operator.email, "password": PASSWORD})["Location"] == "/"
    for page in ("/", "/admin/"):
        assert browser.get(page)["Location"] == "/settings/two-factor/"
    codes = _enrol_on_the_page(browser)
    assert browser.get("/").status_code == 200
    kept = browser.post(
        "/settings/two-factor/", {"action": "disable", "password": PASSWORD, "code": codes[0]}
    )
    assert kept.status_code == 409
