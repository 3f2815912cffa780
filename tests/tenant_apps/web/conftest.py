"""Fixtures for the web pages: Django test clients on an organization's host, signed in with a session of
that organization's schema (force_login writes the session row where the host will look for it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.customfields import values
from tests.conftest import host_of
from tests.tenant_apps.accounts.factories import make_account, make_contact, make_opportunity
from tests.tenant_apps.conftest import admin, in_org, make_lead

__all__ = ["admin", "in_org", "make_account", "make_contact", "make_lead", "make_opportunity"]


class WebClient(Client):
    user: User


def signed_in(organization: Organization, user: User, **kwargs: object) -> WebClient:
    client = WebClient(HTTP_HOST=host_of(organization), **kwargs)
    with schema_context(organization.schema_name):
        client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def web(org: Organization, member: Callable[..., User]) -> Callable[..., WebClient]:
    """web(role="admin", organization=org) returns a browser-like client signed in as a new member."""

    def make(role: str = Role.ADMIN, organization: Organization | None = None, **kwargs: object) -> WebClient:
        organization = organization or org
        return signed_in(organization, member(role=role, organization=organization), **kwargs)

    return make


@pytest.fixture
def fresh_definitions(org: Organization) -> Iterator[None]:
    """Custom field definitions are cached between requests; a rolled-back test must not leave its own
    behind."""
    with schema_context(org.schema_name):
        values.cache_drop()
    values.forget()
    yield
    with schema_context(org.schema_name):
        values.cache_drop()
    values.forget()


@pytest.fixture
def anonymous(org: Organization) -> Client:
    return Client(HTTP_HOST=host_of(org))
