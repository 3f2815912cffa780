from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.users.models import Role, User
from shared_apps.users.services import member_invite
from tenant_apps.sso import oidc
from tenant_apps.sso.exceptions import SsoFailed, SsoNotAllowed
from tenant_apps.sso.models import SsoConfig, SsoIdentity

DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
JIT_ROLES = (Role.VIEWER, Role.REP, Role.MANAGER)  # never admin by default: an admin promotes people
JIT_ROLE_CHOICES = [(role.value, role.label) for role in JIT_ROLES]
SECRET_FIELDS = ("client_secret",)
FIELDS = ("issuer", "client_id", "client_secret", "allowed_domains", "default_role", "enabled", "require_sso")


def _clean_domains(domains: list[str]) -> list[str]:
    cleaned: list[str] = []
    for raw in domains:
        domain = raw.strip().lower().removeprefix("@")
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidInput("allowed_domains", f"{raw[:100]!r} is not a domain name.") from None
        if not DOMAIN.match(domain):
            raise InvalidInput("allowed_domains", f"{raw[:100]!r} is not a domain name.")
        if domain not in cleaned:
            cleaned.append(domain)
    return cleaned


@transaction.atomic
def sso_config_update(
    *, changes: dict[str, Any], signed_in_with_sso: bool
) -> tuple[SsoConfig, dict[str, Any]]:
    """Change the organization's SSO configuration; returns it and what changed (secrets as "(changed)").

    Rules: the issuer's discovery document is read and must name the same issuer; SSO can be enabled only with
    an issuer, a client id and a secret; members made on their first sign-in are never admins by default;
    `require_sso` is turned on only with SSO enabled and by an admin whose own session came through SSO (so
    the provider is known to work for them: no lock-out), and while it is on SSO cannot be disabled."""
    config = SsoConfig.objects.select_for_update().filter(pk=1).first() or SsoConfig(pk=1)
    before = {field: getattr(config, field) for field in FIELDS}
    for field, value in changes.items():
        if field in FIELDS:
            setattr(config, field, value)
    if "allowed_domains" in changes:
        config.allowed_domains = _clean_domains(changes["allowed_domains"])
    if config.default_role not in JIT_ROLES:
        raise InvalidInput(
            "default_role",
            f"The default role must be one of {', '.join(JIT_ROLES)}; promote admins afterwards.",
        )
    if config.enabled:
        for field in ("issuer", "client_id", "client_secret"):
            if not getattr(config, field):
                raise InvalidInput(field, f"Required to enable single sign-on ({field}).", code="required")
    if config.require_sso and not before["require_sso"]:
        if not config.enabled:
            raise InvalidInput("require_sso", "Enable single sign-on before requiring it.")
        if not signed_in_with_sso:
            raise InvalidInput(
                "require_sso",
                "Only an admin whose current session signed in through SSO can require it (so nobody is "
                "locked out): sign in with SSO on this organization's sign-in page, then turn it on.",
                code="sso_session_required",
            )
    if before["require_sso"] and config.require_sso and not config.enabled:
        raise InvalidInput("enabled", "Turn off require_sso before disabling single sign-on.")
    if config.issuer and (config.issuer != before["issuer"] or not config.jwks_uri):
        endpoints = oidc.discover(config.issuer)
        config.authorization_endpoint = endpoints.authorization_endpoint
        config.token_endpoint = endpoints.token_endpoint
        config.jwks_uri = endpoints.jwks_uri
    config.save()
    changed = {
        field: "(changed)" if field in SECRET_FIELDS else [before[field], getattr(config, field)]
        for field in FIELDS
        if before[field] != getattr(config, field)
    }
    return config, changed


def _domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1] if "@" in email else ""


@transaction.atomic
def sso_member_sign_in(*, config: SsoConfig, claims: dict[str, Any]) -> tuple[User, bool]:
    """The member the verified ID token stands for, and whether they were just created.

    The provider account already linked to a member (issuer + subject) is that member; else the member with
    the token's email (which must be verified when the provider says whether it is), linked from now on; else,
    when the email's domain is allowed, a new member with the default role (no password). Refused
    (SsoFailed): no email, an unverified one, a member linked to another account at the provider, an inactive
    member, a domain that is not allowed."""
    subject = str(claims.get("sub") or "")
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SsoFailed("The identity provider did not say who you are (no email).", code="sso_email_missing")
    email = email.strip().lower()
    if claims.get("email_verified") is False:
        raise SsoFailed(
            "Your email address is not verified at the identity provider.", code="sso_email_unverified"
        )
    identity = (
        SsoIdentity.objects.select_related("user").filter(issuer=config.issuer, subject=subject).first()
    )
    created = False
    if identity is not None:
        user = identity.user
    else:
        existing = User.objects.filter(email=email).first()
        if existing is None:
            if _domain_of(email) not in config.allowed_domains:
                raise SsoNotAllowed(
                    f"{email} is not a member of this organization, and people of {_domain_of(email)} do not "
                    "join it by signing in. Ask an admin to invite you.",
                    code="sso_domain_not_allowed",
                )
            user = member_invite(
                email=email, role=config.default_role, full_name=str(claims.get("name") or "")[:200]
            )
            created = True
        else:
            user = existing
        if not created and SsoIdentity.objects.filter(user=user, issuer=config.issuer).exists():
            raise SsoNotAllowed(
                "This member signs in with another account at the identity provider.",
                code="sso_identity_mismatch",
            )
        try:
            with transaction.atomic():
                identity = SsoIdentity.objects.create(user=user, issuer=config.issuer, subject=subject)
        except IntegrityError:  # the same account signing in twice at once: the other attempt linked it
            raise SsoFailed("Sign-in already in progress; try again.", code="sso_retry") from None
    if not user.is_active:
        raise SsoNotAllowed("This member is deactivated.", code="sso_member_inactive")
    SsoIdentity.objects.filter(pk=identity.pk).update(last_sign_in_at=timezone.now())
    return user, created


@transaction.atomic
def sso_requirement_lift(*, disable: bool = False) -> dict[str, Any]:
    """The operators' way out when the provider fails an organization that requires SSO: passwords work
    again for its members (and with `disable`, SSO is switched off). Returns what changed."""
    config = SsoConfig.objects.select_for_update().filter(pk=1).first()
    if config is None:
        return {}
    changed: dict[str, Any] = {}
    if config.require_sso:
        config.require_sso, changed["require_sso"] = False, [True, False]
    if disable and config.enabled:
        config.enabled, changed["enabled"] = False, [True, False]
    if changed:
        config.save(update_fields=["require_sso", "enabled", "updated_at"])
    return changed
