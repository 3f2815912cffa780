from typing import Any

from shared_apps.core.errors import AppError, Conflict


class OtpRequired(AppError):
    """The password was right; the account has two-factor sign-in, so a code must come with it."""

    status_code = 401
    code = "otp_required"
    message = (
        "This account uses two-factor sign-in: send the authenticator's code as `otp` (or `recovery_code`)."
    )

    def as_body(self) -> dict[str, Any]:
        return {**super().as_body(), "errors": {"otp": [self.message]}}


class EnrollmentRequired(AppError):
    status_code = 403
    code = "two_factor_enrollment_required"
    message = (
        "Two-factor sign-in is required here: set it up at /settings/two-factor/ first (sign in on the web)."
    )


class TwoFactorRequired(Conflict):
    code = "two_factor_required"
    message = "Two-factor sign-in is required here: it cannot be turned off."


class AlreadyEnabled(Conflict):
    code = "two_factor_already_enabled"
    message = "Two-factor sign-in is already on; turn it off first to enrol another authenticator."


class NotEnabled(Conflict):
    code = "two_factor_not_enabled"
    message = "Two-factor sign-in is not on for this account."


class NoEnrollment(Conflict):
    code = "two_factor_not_started"
    message = "Start the set-up first: no authenticator is waiting for confirmation."
