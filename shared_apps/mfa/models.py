from __future__ import annotations

from django.conf import settings
from django.db import models


class TotpDevice(models.Model):
    """A user's authenticator: the shared TOTP secret (base32), shown only while enrolling.

    `confirmed_at` is set once the user proved the app produces codes; until then the device does not
    guard sign-in. `last_step` is the RFC 6238 time step of the last code accepted: a code of that step or an
    earlier one is refused, so a code seen over a shoulder or in a log cannot be used a second time."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device"
    )
    secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"authenticator of {self.user_id}"

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(models.Model):
    """A single-use code for when the authenticator is lost. Only its SHA-256 digest is stored (the codes are
    random, 49 bits each, so a fast hash is enough); the codes are shown once, when generated."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "digest"], name="mfa_recovery_code_unique"),
        ]

    def __str__(self) -> str:
        return f"recovery code {self.pk} of {self.user_id}"
