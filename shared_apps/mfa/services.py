"""Two-factor sign-in: enrolling an authenticator (TOTP, RFC 6238, via pyotp), recovery codes, and checking
the second factor at sign-in. Everything happens in the schema being served: a member's authenticator lives
in their organization's schema, an operator's in the public schema, like the users themselves.

Rules: a code is accepted once (its time step must be later than the last accepted one), one step of clock
drift either way; recovery codes are single-use; the secret is shown only until the enrolment is confirmed;
an organization that requires two-factor sign-in keeps its members from turning it off."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import pyotp
import segno
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.request import Request

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import InvalidInput, NotFound
from shared_apps.mfa.exceptions import (
    AlreadyEnabled,
    EnrollmentRequired,
    NoEnrollment,
    NotEnabled,
    OtpRequired,
    TwoFactorRequired,
)
from shared_apps.mfa.models import RecoveryCode, TotpDevice
from shared_apps.organizations.context import current_organization_or_none
from shared_apps.users.models import AuthToken, User

AnyRequest = HttpRequest | Request
RECOVERY_CODE_COUNT = 10
# Steps of clock drift accepted on either side of the current one (30 s each).
VALID_WINDOW = 1
# how the sign-in was made, for the audit log (request.auth_method): names, not secrets
PASSWORD_AND_TOTP = "password+totp"  # noqa: S105
PASSWORD_AND_RECOVERY_CODE = "password+recovery_code"  # noqa: S105


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


# ---- reads -------------------------------------------------------------------------------------------------


def confirmed_device(user: User) -> TotpDevice | None:
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()


def two_factor_enabled(user: User) -> bool:
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def organization_requires_two_factor() -> bool:
    """Whether the organization being served requires two-factor sign-in of every member (never in the
    public schema: operators are not bound by an organization's rule)."""
    organization = current_organization_or_none()
    return bool(organization is not None and organization.require_two_factor)


def two_factor_required() -> bool:
    """Whether everyone signing in here must have a second factor: the organization's rule on its host,
    TWO_FACTOR_REQUIRED_FOR_OPERATORS on the root domain (no query either way)."""
    if current_organization_or_none() is None:
        return bool(settings.TWO_FACTOR_REQUIRED_FOR_OPERATORS)
    return organization_requires_two_factor()


def otpauth_uri(*, user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads (from the QR code): the issuer names the organization,
    so a member of two organizations can tell their entries apart."""
    organization = current_organization_or_none()
    issuer = settings.TWO_FACTOR_ISSUER
    if organization is not None:
        issuer = f"{issuer} {organization.name}".replace(":", " ")
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (segno: pure Python, no image library, SVG straight out)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, title="Scan with your authenticator app"))


# ---- enrolment ---------------------------------------------------------------------------------------------


@transaction.atomic
def enrolment_start(*, user: User) -> Enrolment:
    """Begin (or begin again) setting up an authenticator: a new secret, not guarding anything until
    confirmed with a code from it. Refused while one is confirmed (turn it off first)."""
    device = TotpDevice.objects.select_for_update().filter(user=user).first()
    if device is not None and device.confirmed:
        raise AlreadyEnabled()
    secret = pyotp.random_base32(32)  # 160 bits, RFC 4226's recommended key length
    if device is None:
        device = TotpDevice.objects.create(user=user, secret=secret)
    else:
        device.secret, device.last_step = secret, 0
        device.save(update_fields=["secret", "last_step"])
    uri = otpauth_uri(user=user, secret=secret)
    return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))


def pending_enrolment(*, user: User) -> Enrolment | None:
    """The enrolment started and not yet confirmed (the set-up page shows it again), if any."""
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=True).first()
    if device is None:
        return None
    uri = otpauth_uri(user=user, secret=device.secret)
    return Enrolment(secret=device.secret, otpauth_uri=uri, qr_svg=qr_svg(uri))


@transaction.atomic
def enrolment_confirm(*, user: User, code: str, request: AnyRequest | None = None) -> list[str]:
    """Turn two-factor sign-in on with a code from the new authenticator; returns the recovery codes, which
    are shown this once."""
    device = TotpDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        raise NoEnrollment()
    if device.confirmed:
        raise AlreadyEnabled()
    if not _accept_totp(device, code):
        raise InvalidInput(
            "code", "The code is wrong: enter the 6 digits your app shows now.", code="invalid_code"
        )
    device.confirmed_at = timezone.now()
    device.save(update_fields=["confirmed_at"])
    codes = _recovery_codes_replace(user)
    audit_record("two_factor.enabled", request=request, actor=user, target=user, changes={"method": "totp"})
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user: User, code: str, request: AnyRequest | None = None) -> list[str]:
    """New recovery codes (the old ones stop working), for a code from the authenticator."""
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
    if device is None:
        raise NotEnabled()
    if not _accept_totp(device, code):
        raise InvalidInput("code", "The code is wrong or was already used.", code="invalid_code")
    codes = _recovery_codes_replace(user)
    audit_record("two_factor.recovery_codes_regenerated", request=request, actor=user, target=user)
    return codes


@transaction.atomic
def two_factor_disable(*, user: User, password: str, code: str, request: AnyRequest | None = None) -> None:
    """Turn two-factor sign-in off: needs the password and a code (the authenticator's, or a recovery code
    when the authenticator is lost). Refused while it is required here (two_factor_required)."""
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
    if device is None:
        raise NotEnabled()
    if two_factor_required():
        raise TwoFactorRequired()
    if not user.check_password(password or ""):
        raise InvalidInput("password", "The password is wrong.", code="wrong_password")
    if not (_accept_totp(device, code) or _use_recovery_code(user, code)):
        raise InvalidInput("code", "The code is wrong or was already used.", code="invalid_code")
    TotpDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    audit_record("two_factor.disabled", request=request, actor=user, target=user)


@transaction.atomic
def two_factor_reset(*, member_id: int, request: AnyRequest | None = None) -> User:
    """An organization admin removes a member's authenticator and recovery codes (both lost): the member
    signs in with the password alone, or is sent to set up a new one when the organization requires it."""
    user = User.objects.select_for_update().filter(pk=member_id).first()
    if user is None:
        raise NotFound("No such member.", code="member_not_found")
    if not TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists():
        raise NotEnabled()
    TotpDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    audit_record("two_factor.reset", request=request, target=user)
    return user


# ---- signing in --------------------------------------------------------------------------------------------


def second_factor_check(
    *,
    user: User,
    otp: str | None = None,
    recovery_code: str | None = None,
    request: AnyRequest | None = None,
) -> str | None:
    """After a correct password: None when the account has no second factor (and its organization does not
    require one), else the sign-in method once `otp` (or `recovery_code`) is right.

    OtpRequired (401) without a code, InvalidInput naming the field (400) for a wrong or replayed one,
    EnrollmentRequired (403) for a member whose organization requires two-factor sign-in (an operator while
    TWO_FACTOR_REQUIRED_FOR_OPERATORS is on) and who has not set it up. A failure is audited (outside the
    transaction that refused it, so the record stays)."""
    if not two_factor_enabled(user):
        if two_factor_required():
            raise EnrollmentRequired()
        return None
    otp = otp.strip() if isinstance(otp, str) else ""
    recovery_code = recovery_code.strip() if isinstance(recovery_code, str) else ""
    if not otp and not recovery_code:
        raise OtpRequired()
    method = PASSWORD_AND_TOTP if otp else PASSWORD_AND_RECOVERY_CODE
    if _second_factor_accept(user=user, otp=otp, recovery_code=recovery_code):
        if method == PASSWORD_AND_RECOVERY_CODE:
            audit_record(
                "two_factor.recovery_code_used",
                request=request,
                actor=user,
                target=user,
                changes={"recovery_codes_left": recovery_codes_left(user)},
            )
        return method
    field = "otp" if otp else "recovery_code"
    audit_record(
        "sign_in.second_factor_failed", request=request, actor=user, target=user, changes={"field": field}
    )
    if otp:
        raise InvalidInput("otp", "The code is wrong or was already used.", code="invalid_otp")
    raise InvalidInput(
        "recovery_code", "The recovery code is wrong or was already used.", code="invalid_recovery_code"
    )


@transaction.atomic
def _second_factor_accept(*, user: User, otp: str, recovery_code: str) -> bool:
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
    if device is None:
        return False
    if otp:
        return _accept_totp(device, otp)
    return _use_recovery_code(user, recovery_code)


# ---- the organization's rule -------------------------------------------------------------------------------


@transaction.atomic
def organization_require_two_factor(*, required: bool, request: AnyRequest | None = None) -> bool:
    """Set the served organization's "require two-factor sign-in". Turning it on deletes the API tokens of
    members without an authenticator (they were issued without a second factor); their browser sessions are
    sent to the set-up page until they enrol (shared_apps.mfa.middleware)."""
    organization = current_organization_or_none()
    if organization is None:
        raise InvalidInput("require_two_factor", "Only an organization can require two-factor sign-in.")
    row = type(organization).objects.select_for_update().get(pk=organization.pk)
    previous = row.require_two_factor
    if previous != required:
        row.require_two_factor = required
        row.save(update_fields=["require_two_factor"])
        organization.require_two_factor = required  # the row this request (and its connection) holds
        audit_record(
            "settings.changed",
            request=request,
            target_type="organizations.organization",
            target_id=row.pk,
            target_repr=row.slug,
            changes={"require_two_factor": [previous, required]},
        )
        if required:
            enrolled = TotpDevice.objects.filter(confirmed_at__isnull=False).values("user_id")
            AuthToken.objects.exclude(user_id__in=enrolled).delete()
    return required


# ---- internals ---------------------------------------------------------------------------------------------


def _accept_totp(device: TotpDevice, code: object) -> bool:
    """Whether `code` is the device's code for a step near now and later than the last one accepted; if
    so, that step becomes the last (the caller holds the row lock: two requests cannot both use it)."""
    code = "".join(str(code or "").split())
    if not code.isdigit() or len(code) != 6:
        return False
    try:
        step = pyotp.TOTP(device.secret).verify_and_get_timecode(code, valid_window=VALID_WINDOW)
    except pyotp.exceptions.OTPVerificationError:
        return False
    if step <= device.last_step:
        return False  # replayed (or an older code than one already used)
    device.last_step, device.last_used_at = step, timezone.now()
    device.save(update_fields=["last_step", "last_used_at"])
    return True


def _normalize_recovery_code(code: object) -> str:
    return "".join(ch for ch in str(code or "").lower() if ch.isalnum())


def _digest(code: str) -> str:
    return hashlib.sha256(_normalize_recovery_code(code).encode()).hexdigest()


def _use_recovery_code(user: User, code: object) -> bool:
    if not _normalize_recovery_code(code):
        return False
    used = RecoveryCode.objects.filter(user=user, digest=_digest(str(code)), used_at__isnull=True).update(
        used_at=timezone.now()
    )
    return used == 1


def _recovery_codes_replace(user: User) -> list[str]:
    """Ten new codes, `xxxxx-xxxxx` of 31 letters and digits (49 bits each); the old ones are deleted."""
    RecoveryCode.objects.filter(user=user).delete()
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(alphabet) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    RecoveryCode.objects.bulk_create([RecoveryCode(user=user, digest=_digest(code)) for code in codes])
    return codes
