"""Fixtures of the isolation suite: acme's admin with every kind of credential, globex's records."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tests.isolation.support import Credentials, Records, credentials_of


@pytest.fixture
def acme(org: Organization, member: Callable[..., User]) -> Credentials:
    """An admin of acme (sees and may do everything there), with every kind of credential."""
    return credentials_of(org, member(role=Role.ADMIN))


@pytest.fixture
def globex_admin(other_org: Organization, member: Callable[..., User]) -> Credentials:
    return credentials_of(other_org, member(role=Role.ADMIN, organization=other_org))


@pytest.fixture
def globex(org: Organization, other_org: Organization, globex_admin: Credentials) -> Records:
    """Globex's records, with ids acme has never used."""
    return Records(other_org, globex_admin, apart_from=org)
