from __future__ import annotations

from django_tenants.utils import get_public_schema_name

from shared_apps.core.db import connection
from shared_apps.users.models import User
from tenant_apps.sso.exceptions import SsoRequired
from tenant_apps.sso.models import SsoConfig


def sso_config_get() -> SsoConfig:
    """The organization's configuration (an unsaved, disabled one until an admin sets it up)."""
    return SsoConfig.objects.filter(pk=1).first() or SsoConfig(pk=1)


def sso_enabled() -> bool:
    return SsoConfig.objects.filter(pk=1, enabled=True).exists()


def refuse_password_when_sso_required(user: User) -> None:
    """A password rule (shared_apps.users.policies): an organization that requires SSO takes no password from
    its members. Operators sign in on the root domain (the public schema), where no organization's rule
    applies."""
    if connection.schema_name == get_public_schema_name():
        return
    if SsoConfig.objects.filter(pk=1, enabled=True, require_sso=True).exists():
        raise SsoRequired()
