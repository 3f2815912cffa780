from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

from shared_apps.users.signals import credentials_revoked

# Operators' read-only support members (shared_apps.organizations.support) have addresses here: requests
# signed in as one may only read (shared_apps.users.authentication).
SUPPORT_EMAIL_SUFFIX = "@support.leadpulse.invalid"


def is_support_member(user: Any) -> bool:
    return str(getattr(user, "email", "")).endswith(SUPPORT_EMAIL_SUFFIX)


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MANAGER = "manager", "Manager"
    REP = "rep", "Sales rep"
    VIEWER = "viewer", "Viewer"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(is_staff=True, is_superuser=True, role=Role.ADMIN)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: an operator in the public schema, a member in an organization's schema.

    The table exists once per schema, so acme's jane@x.com and globex's jane@x.com are different people.
    """

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REP)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Operators: may use the platform API and admin.")
    date_joined = models.DateTimeField(default=timezone.now)
    # Raised to end every session of the user at once (deactivation, reactivation): it is part of the session
    # hash Django checks on every request, so a cookie issued before no longer signs anyone in.
    session_epoch = models.PositiveIntegerField(default=0)
    # IANA zone the member's days, reports and reminders follow; blank: their organization's.
    time_zone = models.CharField(max_length=64, blank=True, default="")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []  # type: ignore[misc]

    def __str__(self) -> str:
        return self.email

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django's hash (of the password hash) while the epoch is 0, so existing sessions survive the upgrade.
        material = self.password if not self.session_epoch else f"{self.password}:{self.session_epoch}"
        key_salt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
        return salted_hmac(key_salt, material, secret=secret, algorithm="sha256").hexdigest()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A new password (set_password, by any path: the web form, the admin's reset, a shell) revokes the
        user's API tokens; sessions end by themselves, their hash being the old password's."""
        password_changed = self._password is not None and not self._state.adding  # type: ignore[attr-defined]
        super().save(*args, **kwargs)
        if password_changed:
            AuthToken.objects.filter(user=self).delete()
            credentials_revoked.send(sender=User, user_id=self.pk)  # open live streams re-check and end


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class AuthToken(models.Model):
    """A bearer token. Only the SHA-256 digest is stored; the raw token is shown once, at sign-in."""

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_tokens")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="authtoken_expires_idx")]

    def __str__(self) -> str:
        return f"token {self.pk} of {self.user_id}"

    def is_expired(self, now: Any = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read only"
    WRITE = "write", "Read and write"
    # Managing members, API keys and webhooks (who and what may act for the organization): never a default,
    # and granted only by a member signed in themselves, never through another key.
    ADMIN = "admin", "Read, write and manage access"


class ApiKey(models.Model):
    """A key for an integration, in one organization's schema (so it works on that organization's host only).

    The raw key (`lpk_<prefix>_<secret>`) is shown once; only its SHA-256 digest is stored. `prefix` makes a
    leaked key recognizable and findable without the secret."""

    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=ApiKeyScope.choices, default=ApiKeyScope.READ)
    # Resource names the key may use (e.g. "leads", "accounts"); empty = all resources.
    resources = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_keys")
    # The key this one was created through (an admin-scoped key), if any: revoking that key revokes this one.
    created_by_key = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="created_keys"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def is_usable(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Invitation(models.Model):
    """An invitation to join the organization with a role, sent by email as a single-use link.

    Only the SHA-256 digest of the link's token is stored; resending issues a new token (the old link dies).
    """

    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REP)
    full_name = models.CharField(max_length=200, blank=True)
    digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="accepted_invitations"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["email"], name="invitation_email_idx")]

    def __str__(self) -> str:
        return f"invitation of {self.email}"

    def status(self, now: Any = None) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (now or timezone.now()):
            return "expired"
        return "pending"


class UserSession(models.Model):
    """A browser session of a user, written at sign-in: Django's session store cannot list sessions by user,
    so this row names the session key, to show the member their sessions and to end one."""

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="browser_sessions")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"session {self.pk} of {self.user_id}"
