from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from shared_apps.users.models import Role, User


class SsoConfig(models.Model):
    """The organization's OpenID Connect provider: one row at most (pk 1), in the organization's schema.

    The endpoints are the provider's discovery document's, read and checked when the configuration is saved
    (the issuer it names must be the one configured). The client secret is never returned by any route."""

    issuer = models.URLField(max_length=500, blank=True)
    client_id = models.CharField(max_length=255, blank=True)
    client_secret = models.CharField(max_length=500, blank=True)
    authorization_endpoint = models.URLField(max_length=500, blank=True)
    token_endpoint = models.URLField(max_length=500, blank=True)
    jwks_uri = models.URLField(max_length=500, blank=True)
    # Email domains whose people become members on their first SSO sign-in (lowercase, no "@").
    allowed_domains = ArrayField(models.CharField(max_length=253), default=list, blank=True)
    default_role = models.CharField(max_length=16, choices=Role.choices, default=Role.REP)
    enabled = models.BooleanField(default=False)
    # Members may not sign in with a password (web page, API token); operators are not members.
    require_sso = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="sso_config_singleton")]

    def __str__(self) -> str:
        return f"SSO through {self.issuer or '(not configured)'}"


class SsoIdentity(models.Model):
    """Which provider account (issuer + subject) a member signed in with: once linked, another account at the
    provider claiming the same email cannot take the member over."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sso_identities")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_subject_unique"),
            models.UniqueConstraint(fields=["user", "issuer"], name="sso_identity_user_issuer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} at {self.issuer}"
