"""The rules of two-factor sign-in, on the services with real codes from the enrolled secret (pyotp)."""

from __future__ import annotations

import time

import pyotp
import pytest
from django_tenants.utils import schema_context

from shared_apps.core.errors import InvalidInput
from shared_apps.mfa import services
from shared_apps.mfa.exceptions import AlreadyEnabled, NoEnrollment, NotEnabled, OtpRequired
from shared_apps.mfa.models import RecoveryCode, TotpDevice
from tests.conftest import PASSWORD
from tests.shared_apps.mfa.support import enrol


def test_a_code_from_the_secret_turns_two_factor_on_and_gives_ten_single_use_codes(org, member):
    user = member()
    with schema_context(org.schema_name):
        enrolment = services.enrolment_start(user=user)
        assert enrolment.otpauth_uri.startswith("otpauth://totp/")
        assert f"secret={enrolment.secret}" in enrolment.otpauth_uri
        assert "Acme" in enrolment.otpauth_uri  # the issuer names the organization
        assert enrolment.qr_svg.startswith("<svg")
        assert not services.two_factor_enabled(user)  # not before confirmation
        with pytest.raises(InvalidInput) as wrong:
            services.enrolment_confirm(user=user, code=wrong_code(pyotp.TOTP(enrolment.secret).now()))
        assert wrong.value.field == "code"
        codes = services.enrolment_confirm(user=user, code=pyotp.TOTP(enrolment.secret).now())
        assert services.two_factor_enabled(user)
        assert len(codes) == len(set(codes)) == 10
        stored = list(RecoveryCode.objects.filter(user=user).values_list("digest", flat=True))
        assert len(stored) == 10 and not set(codes) & set(stored)  # only digests are kept
        with pytest.raises(AlreadyEnabled):
            services.enrolment_start(user=user)  # the secret is never handed out again


def wrong_code(right: str) -> str:
    return f"{(int(right) + 1) % 1_000_000:06d}"


def test_confirming_without_starting_is_a_conflict(org, member):
    user = member()
    with schema_context(org.schema_name), pytest.raises(NoEnrollment):
        services.enrolment_confirm(user=user, code="123456")


def test_a_code_is_accepted_once(org, member):
    enrolled = enrol(member(), org)
    with schema_context(org.schema_name):
        code = enrolled.code()
        assert services.second_factor_check(user=enrolled.user, otp=code) == "password+totp"
        with pytest.raises(InvalidInput) as replay:
            services.second_factor_check(user=enrolled.user, otp=code)
        assert (replay.value.field, replay.value.code) == ("otp", "invalid_otp")
        # the next step's code (one step of drift) still works, and then the current one stays refused
        assert services.second_factor_check(user=enrolled.user, otp=enrolled.code(1)) == "password+totp"
        with pytest.raises(InvalidInput):
            services.second_factor_check(user=enrolled.user, otp=enrolled.code())


def test_codes_outside_the_drift_window_are_refused(org, member):
    enrolled = enrol(member(), org)
    with schema_context(org.schema_name):
        for far in (enrolled.totp.at(time.time() - 120), enrolled.totp.at(time.time() + 120)):
            with pytest.raises(InvalidInput):
                services.second_factor_check(user=enrolled.user, otp=far)


def test_no_code_for_an_enrolled_user_is_otp_required(org, member):
    enrolled = enrol(member(), org)
    with schema_context(org.schema_name):
        with pytest.raises(OtpRequired):
            services.second_factor_check(user=enrolled.user)
        assert services.second_factor_check(user=member()) is None  # no authenticator: nothing to ask


def test_a_recovery_code_works_once_in_any_spelling(org, member):
    enrolled = enrol(member(), org)
    with schema_context(org.schema_name):
        first = enrolled.recovery_codes[0]
        method = services.second_factor_check(user=enrolled.user, recovery_code=f" {first.upper()} ")
        assert method == "password+recovery_code"
        with pytest.raises(InvalidInput) as again:
            services.second_factor_check(user=enrolled.user, recovery_code=first)
        assert (again.value.field, again.value.code) == ("recovery_code", "invalid_recovery_code")
        assert services.recovery_codes_left(enrolled.user) == 9


def test_new_recovery_codes_need_a_code_and_replace_the_old_ones(org, member):
    enrolled = enrol(member(), org)
    with schema_context(org.schema_name):
        with pytest.raises(InvalidInput):
            services.recovery_codes_regenerate(user=enrolled.user, code="12345")
        fresh = services.recovery_codes_regenerate(user=enrolled.user, code=enrolled.code())
        with pytest.raises(InvalidInput):
            services.second_factor_check(user=enrolled.user, recovery_code=enrolled.recovery_codes[1])
        assert services.second_factor_check(user=enrolled.user, recovery_code=fresh[1])


def test_turning_off_needs_the_password_and_a_code(org, member):
    enrolled = enrol(member(), org)
    with schema_context(org.schema_name):
        with pytest.raises(InvalidInput) as wrong_password:
            services.two_factor_disable(user=enrolled.user, password="nope", code=enrolled.code())
        assert wrong_password.value.field == "password"
        with pytest.raises(InvalidInput) as wrong_code:
            services.two_factor_disable(user=enrolled.user, password=PASSWORD, code="000")
        assert wrong_code.value.field == "code"
        # a recovery code does it when the authenticator is lost
        services.two_factor_disable(user=enrolled.user, password=PASSWORD, code=enrolled.recovery_codes[0])
        assert not TotpDevice.objects.filter(user=enrolled.user).exists()
        assert not RecoveryCode.objects.filter(user=enrolled.user).exists()
        with pytest.raises(NotEnabled):
            services.two_factor_disable(user=enrolled.user, password=PASSWORD, code="123456")


def test_a_members_authenticator_lives_in_their_organization_only(org, other_org, member):
    enrolled = enrol(member(organization=org, email="twin@shared.test"), org)
    twin = member(organization=other_org, email="twin@shared.test")
    with schema_context(other_org.schema_name):
        assert not services.two_factor_enabled(twin)
        assert not TotpDevice.objects.filter(secret=enrolled.secret).exists()
