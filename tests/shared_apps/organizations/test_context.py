"""One organization context: requests, jobs, streams, exports and commands run with the real Organization
row as the connection's tenant (its settings readable everywhere the same way, without a query)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.organizations.context import (
    MissingOrganizationContext,
    current_organization,
    organization_context,
)
from shared_apps.organizations.middleware import OrganizationRoutingMiddleware
from shared_apps.organizations.models import Organization
from tests.conftest import host_of


def test_organization_context_sets_the_real_row_and_restores_the_previous_tenant(org, other_org, public):
    before = connection.tenant
    with organization_context(org) as entered:
        assert connection.tenant is org is entered
        assert connection.schema_name == org.schema_name
        with organization_context(other_org.schema_name):  # by schema name: the row is read
            assert isinstance(connection.tenant, Organization)
            assert connection.tenant.pk == other_org.pk
        assert connection.tenant is org
    assert connection.tenant is before
    assert connection.schema_name == "public"


def test_entering_the_active_organization_by_schema_name_costs_no_query(org):
    with (
        organization_context(org),
        CaptureQueriesContext(connection) as queries,
        organization_context(org.schema_name) as again,
    ):
        assert again is org
        assert current_organization() is org
    assert len(queries) == 0


def test_current_organization_refuses_the_public_schema(public):
    with pytest.raises(MissingOrganizationContext):
        current_organization()


def test_current_organization_answers_under_a_schema_context_stand_in_once_per_entry(org):
    org.default_currency = "EUR"
    org.save(update_fields=["default_currency"])
    with schema_context(org.schema_name), CaptureQueriesContext(connection) as queries:
        first, second = current_organization(), current_organization()
    assert first.pk == second.pk == org.pk and first.default_currency == "EUR"
    table = Organization._meta.db_table
    assert len([query for query in queries if table in query["sql"]]) == 1


def test_the_routing_middleware_serves_the_request_with_the_real_organization(org, public):
    seen: dict[str, Any] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen["tenant"], seen["current"] = connection.tenant, current_organization()
        return HttpResponse("ok")

    response = OrganizationRoutingMiddleware(view)(RequestFactory().get("/", HTTP_HOST=host_of(org)))
    assert response.status_code == 200
    assert isinstance(seen["tenant"], Organization) and seen["tenant"].pk == org.pk
    assert seen["current"] is seen["tenant"]


def test_the_analytics_backfill_command_runs_in_the_organization(org, public, monkeypatch):
    from tenant_apps.analytics import services

    seen = []
    original = services.snapshot_backfill

    def spy(**kwargs: Any) -> int:
        seen.append(connection.tenant)
        return original(**kwargs)

    monkeypatch.setattr(services, "snapshot_backfill", spy)
    out = StringIO()
    call_command("analytics_backfill", org.slug, "2026-01-01", "2026-01-02", stdout=out)
    assert "snapshot rows written" in out.getvalue()
    assert [type(tenant) for tenant in seen] == [Organization] and seen[0].pk == org.pk
    assert connection.schema_name == "public"  # left again afterwards
