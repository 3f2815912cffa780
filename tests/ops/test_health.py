"""Liveness and readiness probes on the root domain and on organization hosts."""

from __future__ import annotations

from unittest import mock

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shared_apps.observability import health
from shared_apps.organizations import placement
from tests.conftest import client_for


@pytest.fixture(autouse=True)
def _fresh_migration_check():
    health.reset_migration_check()
    yield
    health.reset_migration_check()


@pytest.mark.parametrize("on_org", [False, True])
def test_healthz_answers_on_every_host_without_io(org, on_org):
    client = client_for(org if on_org else None)
    client.get("/healthz")  # warms the host → organization cache: that lookup is routing's, not the probe's
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert not [q for q in queries.captured_queries if "SET search_path" not in q["sql"]]


@pytest.mark.parametrize("on_org", [False, True])
def test_readyz_reports_database_redis_and_migrations(org, on_org):
    response = client_for(org if on_org else None).get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "migrations": "ok"},
    }


def test_readyz_keeps_the_organization_schema_of_the_request(org):
    client_for(org).get("/readyz")
    # the migration check switches schemas; the request's own schema must be restored afterwards
    assert connection.schema_name in (org.schema_name, "public")


def test_readyz_is_503_when_a_migration_is_pending(public):
    with mock.patch.object(health, "pending_migrations", side_effect=lambda s: ["leads.9999_new"]):
        response = client_for(None).get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["migrations"]["pending"]["public"] == ["leads.9999_new"]


def test_readyz_is_503_when_redis_is_down(public):
    with mock.patch.object(health, "_check_redis", side_effect=ConnectionError("down")):
        response = client_for(None).get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "error: ConnectionError"


def test_readyz_checks_every_database_organizations_are_placed_on(public, monkeypatch):
    assert "shard2" in placement.database_aliases()
    monkeypatch.setitem(settings.DATABASES["shard2"], "PORT", "1")  # nothing listens there
    placement._wrapper("shard2").close()  # this thread's connection to it: reconnects with the new port
    try:
        response = client_for(None).get("/readyz")
    finally:
        monkeypatch.undo()
        placement._wrapper("shard2").close()
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error: OperationalError"


def test_readyz_is_503_when_the_database_is_down(public):
    with mock.patch.object(health, "_check_database", side_effect=OSError("gone")):
        response = client_for(None).get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "error: OSError",
        "redis": "ok",
        "migrations": "skipped",
    }


def test_migration_check_is_cached(public):
    with mock.patch.object(health, "pending_migrations", return_value=[]) as check:
        client_for(None).get("/readyz")
        client_for(None).get("/readyz")
    databases = len(placement.database_aliases())
    assert check.call_count == 2 * databases  # public + template of each database, once
    with (
        mock.patch.object(health.time, "monotonic", return_value=10**9),
        mock.patch.object(health, "pending_migrations", return_value=[]) as check,
    ):
        client_for(None).get("/readyz")
    assert check.call_count == 2 * databases


def test_pending_migrations_finds_an_unrecorded_migration(public):
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM org_template.django_migrations WHERE app = 'leads' AND name = '0001_initial'"
        )
    assert health.pending_migrations("org_template")[:1] == ["leads.0001_initial"]
    assert health.pending_migrations("public") == []


def test_probes_refuse_writes(public):
    assert client_for(None).post("/healthz").status_code == 405
