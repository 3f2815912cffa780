"""Connections that serve many schemas: no search_path leaks between organizations on one persistent
connection (CONN_MAX_AGE > 0) or through Django's psycopg pool, and connections recycled once they have
served DB_CONN_MAX_SCHEMAS schemas (shared_apps/core/connections.py)."""

from __future__ import annotations

import copy
import datetime
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import django_rq
import psycopg
import pytest
from django.conf import settings
from django.db import close_old_connections, connection, connections, transaction
from django.db.utils import ProgrammingError
from django.test.utils import CaptureQueriesContext
from django_tenants.postgresql_backend.base import DatabaseWrapper
from django_tenants.utils import schema_context
from psycopg_pool import ConnectionPool
from rest_framework.test import APIClient

from shared_apps.core import connections as db_connections
from shared_apps.core.postgresql import base as backend
from shared_apps.organizations.jobs import OrganizationJob
from shared_apps.organizations.models import Organization
from shared_apps.users.models import User
from tenant_apps.leads.models import Lead
from tests.conftest import host_of
from tests.shared_apps.organizations.test_jobs import where_am_i

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _admin(organization: Organization) -> User:
    with schema_context(organization.schema_name):
        return User.objects.get(email=f"admin@{organization.slug}.test")


def _as(organization: Organization | None, user: Any) -> APIClient:
    client = APIClient(HTTP_HOST=host_of(organization))
    client.force_authenticate(user=user)
    return client


def _names(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def _member_emails(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(row["email"] for row in response.json()["results"])


def _physical_search_path() -> str:
    """The search_path of the session itself, read on the psycopg connection past django-tenants."""
    raw = connection.connection
    assert raw is not None
    row = raw.execute("SHOW search_path").fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def two_orgs_with_leads(org: Organization, other_org: Organization) -> tuple[User, User]:
    for organization, name in ((org, "Acme only"), (other_org, "Globex only")):
        with schema_context(organization.schema_name):
            Lead.objects.create(name=name)
    return _admin(org), _admin(other_org)


def test_one_persistent_connection_serves_each_host_only_its_own_rows(org, other_org, two_orgs_with_leads):
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
    acme_admin, globex_admin = two_orgs_with_leads
    connection.ensure_connection()
    raw = connection.connection

    assert _names(_as(org, acme_admin).get("/api/leads/")) == ["Acme only"]
    assert _physical_search_path() == f"{org.schema_name}, public"
    assert _names(_as(other_org, globex_admin).get("/api/leads/")) == ["Globex only"]
    assert _physical_search_path() == f"{other_org.schema_name}, public"
    # the root domain: the public schema only (no organization's tables are visible)
    platform = _as(None, User(email="ops@platform.test", is_staff=True, is_superuser=True))
    assert platform.get("/api/platform/organizations/").status_code == 200
    assert _physical_search_path() == "public"
    with pytest.raises(ProgrammingError), transaction.atomic():
        connection.cursor().execute("SELECT 1 FROM leads_lead")
    # and back to the first organization
    assert _names(_as(org, acme_admin).get("/api/leads/")) == ["Acme only"]
    assert connection.connection is raw  # one physical connection served all of it


def test_a_request_that_fails_midway_leaves_nothing_for_the_next_organization(
    org, other_org, two_orgs_with_leads, monkeypatch
):
    acme_admin, globex_admin = two_orgs_with_leads
    from tenant_apps.leads import selectors

    original = selectors.lead_list

    def failing(**kwargs: Any) -> Any:
        list(original(**kwargs))  # the organization's rows were read: its search_path is set
        with transaction.atomic():  # a database error, rolled back to a savepoint
            connection.cursor().execute("SELECT no_such_column FROM leads_lead")
        raise AssertionError("unreachable")

    monkeypatch.setattr(selectors, "lead_list", failing)
    client = _as(org, acme_admin)
    client.raise_request_exception = False
    assert client.get("/api/leads/").status_code == 500
    monkeypatch.undo()

    monkeypatch.setattr(selectors, "lead_list", lambda **kwargs: 1 / 0)
    client = _as(org, acme_admin)
    client.raise_request_exception = False
    assert client.get("/api/leads/").status_code == 500
    monkeypatch.undo()

    assert _names(_as(other_org, globex_admin).get("/api/leads/")) == ["Globex only"]
    assert _names(_as(org, acme_admin).get("/api/leads/")) == ["Acme only"]


def test_a_job_after_a_request_runs_in_its_own_organization(
    org, other_org, two_orgs_with_leads, run_jobs, django_capture_on_commit_callbacks
):
    acme_admin, _ = two_orgs_with_leads
    with schema_context(other_org.schema_name), django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue("default").enqueue(where_am_i)
    assert _names(_as(org, acme_admin).get("/api/leads/")) == ["Acme only"]
    # the same thread and connection, left in acme's schema by the request, now runs globex's job
    assert connection.schema_name == org.schema_name
    (job,) = run_jobs()
    assert job.is_finished, job.latest_result().exc_string
    assert job.return_value() == (other_org.schema_name, [f"admin@{other_org.slug}.test"])


# --- recycling: in a thread of its own, as a server's, outside the test transaction (which no
# connection could be closed under)


def _organizations() -> tuple[Organization, Organization]:
    connection.set_schema_to_public()
    return Organization.objects.get(slug="acme"), Organization.objects.get(slug="globex")


def _serve(organization: Organization | None) -> None:
    """A read-only request on the organization's host (its admins listed) or the root domain, ended as a
    server ends it (Django's test client leaves close_old_connections out of request_finished)."""
    if organization is None:
        operator = User(email="ops@platform.test", is_staff=True, is_superuser=True)
        response = _as(None, operator).get("/api/platform/organizations/")
        assert response.status_code == 200, response.content
    else:
        emails = _member_emails(_as(organization, _admin(organization)).get("/api/members/"))
        assert emails == [f"admin@{organization.slug}.test"], emails
    close_old_connections()


def test_a_connection_is_closed_once_it_has_served_more_schemas_than_the_limit(in_own_thread, settings):
    def body() -> None:
        settings.DB_CONN_MAX_SCHEMAS = 2
        acme, globex = _organizations()
        _serve(acme)
        raw = connection.connection
        assert raw is not None and db_connections.schemas_served(connection) == {acme.schema_name}
        _serve(acme)
        _serve(globex)
        assert connection.connection is raw
        assert db_connections.schemas_served(connection) == {acme.schema_name, globex.schema_name}
        _serve(None)  # a third schema: public
        assert connection.connection is None and raw.closed
        _serve(globex)  # a fresh connection, counting from zero
        assert connection.connection is not raw
        assert db_connections.schemas_served(connection) == {globex.schema_name}

    in_own_thread(body)


def test_without_a_limit_a_connection_serves_any_number_of_schemas(in_own_thread, settings):
    def body() -> None:
        settings.DB_CONN_MAX_SCHEMAS = 0
        acme, globex = _organizations()
        _serve(acme)
        raw = connection.connection
        for organization in (globex, None, acme):
            _serve(organization)
        assert connection.connection is raw and not raw.closed

    in_own_thread(body)


def test_the_job_boundary_counts_the_jobs_schema_and_recycles(in_own_thread, settings):
    def body() -> None:
        settings.DB_CONN_MAX_SCHEMAS = 1
        acme, globex = _organizations()
        with schema_context(acme.schema_name):
            assert where_am_i()[0] == acme.schema_name
        raw = connection.connection
        assert db_connections.job_boundary(acme.schema_name) == []
        with schema_context(globex.schema_name):
            where_am_i()
        assert db_connections.job_boundary(globex.schema_name) == ["default"]
        assert connection.connection is None and raw.closed

    in_own_thread(body)


def test_the_job_class_calls_the_job_boundary(in_own_thread, settings, monkeypatch):
    """The worker's side: OrganizationJob.perform ends each job at the boundary, in the job's schema."""

    def body() -> None:
        calls: list[str | None] = []
        # job_boundary() is imported by name into the jobs module: count the calls it makes instead
        monkeypatch.setattr(db_connections, "boundary", lambda schema=None: calls.append(schema) or [])
        acme, _ = _organizations()
        queue = django_rq.get_queue("default")
        job = queue.create_job(where_am_i, meta={"schema_name": acme.schema_name})
        assert isinstance(job, OrganizationJob)
        job.perform()
        assert calls == [acme.schema_name]

    in_own_thread(body)


# --- Django's psycopg pool (DB_POOL=1)


@contextmanager
def pooled_default(**pool: Any) -> Iterator[Any]:
    """This thread's default connection replaced by one drawing from a psycopg pool of the test database."""
    settings_dict = copy.deepcopy(connection.settings_dict)
    settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], "pool": {"min_size": 1, **pool}}
    settings_dict["CONN_MAX_AGE"] = 0
    original = connections["default"]
    wrapper = type(original)(settings_dict, alias="default")
    DatabaseWrapper._connection_pools.pop("default", None)
    connections["default"] = wrapper
    try:
        yield wrapper
    finally:
        wrapper.close()
        pool = DatabaseWrapper._connection_pools.pop("default", None)
        if pool is not None:
            pool.close()
        connections["default"] = original


def test_a_pooled_connection_handed_to_another_organization_sets_its_search_path_again(in_own_thread):
    def body() -> None:
        acme, globex = _organizations()
        with pooled_default(max_size=1) as pooled:
            for organization in (acme, globex, None, globex, acme, None, acme):
                _serve(organization)
                assert pooled.connection is None  # back in the pool after every request
            assert pooled.pool.get_stats()["connections_num"] == 1  # one physical connection served them all

            # a wrapper still holding acme as its tenant after another thread used the connection for globex
            pooled.set_tenant(acme)
            other = type(pooled)(pooled.settings_dict, alias="default")
            other.set_tenant(globex)
            with other.cursor() as cursor:
                cursor.execute("SELECT email FROM users_user WHERE email LIKE 'admin@%%'")
                assert cursor.fetchall() == [("admin@globex.test",)]
            other.close()
            with pooled.cursor() as cursor:
                cursor.execute("SELECT email FROM users_user WHERE email LIKE 'admin@%%'")
                assert cursor.fetchall() == [("admin@acme.test",)]
            pooled.close()

    in_own_thread(body)


def test_a_pooled_connection_that_served_too_many_schemas_is_discarded(in_own_thread, settings):
    def body() -> None:
        settings.DB_CONN_MAX_SCHEMAS = 2
        acme, globex = _organizations()
        with pooled_default(max_size=1) as pooled:
            _serve(acme)
            _serve(globex)
            assert pooled.pool.get_stats()["connections_num"] == 1
            _serve(None)  # the third schema: closed instead of going back to the pool
            _serve(acme)  # served by a new connection
            stats = pooled.pool.get_stats()
            assert (stats["connections_num"], stats.get("returns_bad")) == (2, 1)

    in_own_thread(body)


def test_db_pool_setting_turns_on_the_pool_without_persistent_connections():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "d = s.DATABASES['default']; print(d['CONN_MAX_AGE'], sorted(d['OPTIONS']['pool']))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "DB_POOL": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(maxsplit=1) == ["0", "['max_lifetime', 'max_size', 'min_size', 'timeout']\n"]


# --- the backend (shared_apps/core/postgresql): no SET search_path, no pool check, when nothing changed


def _set_paths(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SET search_path")]


def _admin_emails(wrapper: Any) -> list[str]:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT email FROM users_user WHERE email LIKE 'admin@%%'")
        return [row[0] for row in cursor.fetchall()]


def test_the_backend_is_ours():
    assert isinstance(connections["default"], backend.DatabaseWrapper)


def test_a_pooled_connection_back_on_the_same_organization_skips_the_set(in_own_thread):
    def body() -> list[list[str]]:
        acme, globex = _organizations()
        sets = []
        with pooled_default(max_size=1) as pooled:
            for organization in (acme, acme, globex, globex, None, acme):
                with CaptureQueriesContext(pooled) as queries:
                    _serve(organization)
                sets.append(_set_paths(queries))
            assert pooled.pool.get_stats()["connections_num"] == 1
        return sets

    acme_path = 'SET search_path = "org_acme","public"'
    globex_path = 'SET search_path = "org_globex","public"'
    public = 'SET search_path = "public"'
    # a first visit reads what its caches miss in the public schema; django-tenants alone set the path again
    # in every request, warm or not
    assert in_own_thread(body) == [
        [acme_path, public, acme_path],
        [],
        [globex_path, public, globex_path],
        [],
        [public],
        [acme_path],
    ]


def test_a_set_inside_a_rolled_back_transaction_is_not_trusted(in_own_thread):
    def body() -> None:
        acme, globex = _organizations()
        connection.set_tenant(acme)
        assert _admin_emails(connection) == ["admin@acme.test"]
        assert backend.held_path(connection.connection) == ("org_acme", "public")
        with pytest.raises(RuntimeError), transaction.atomic():
            connection.set_tenant(globex)
            assert _admin_emails(connection) == ["admin@globex.test"]
            raise RuntimeError("rolled back: the session's path is org_acme again")
        assert backend.held_path(connection.connection) is None
        connection.set_tenant(globex)
        assert _admin_emails(connection) == ["admin@globex.test"]
        connection.set_tenant(acme)
        assert _admin_emails(connection) == ["admin@acme.test"]
        assert _physical_search_path() == "org_acme, public"

    in_own_thread(body)


@pytest.mark.parametrize(
    "statement",
    ["SET search_path = org_globex, public", "select set_config('search_path', 'org_globex', false)"],
)
def test_a_statement_that_changes_the_path_behind_django_tenants_is_noticed(in_own_thread, statement):
    def body() -> None:
        acme, _globex = _organizations()
        connection.set_tenant(acme)
        assert _admin_emails(connection) == ["admin@acme.test"]
        with connection.cursor() as cursor:
            cursor.execute(statement)
        assert backend.held_path(connection.connection) is None
        connection.set_tenant(acme)  # as the next request would: the path is wanted again
        assert _admin_emails(connection) == ["admin@acme.test"]

    in_own_thread(body)


def test_reset_and_discard_make_the_path_unknown():
    for statement in ("RESET ALL", "  discard all", "RESET search_path", "set Search_Path to x"):
        assert backend._may_change_path(statement)
    for statement in (
        'SELECT "leads_lead"."id" FROM "leads_lead"',
        "SET TIME ZONE 'UTC'",
        "INSERT INTO x_path",
    ):
        assert not backend._may_change_path(statement)


def test_a_connection_handed_back_moments_ago_is_not_checked_an_idle_one_is(
    in_own_thread, settings, monkeypatch
):
    checked: list[int] = []
    check = ConnectionPool.check_connection

    def counting(conn: Any) -> None:
        checked.append(1)
        check(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counting))

    def body() -> None:
        acme, _globex = _organizations()
        with pooled_default(max_size=1) as pooled:
            assert pooled.pool._check is backend.check_unless_fresh
            settings.DB_POOL_CHECK_AFTER = 60.0
            _serve(acme)
            _serve(acme)
            _serve(acme)
            fresh = len(checked)
            settings.DB_POOL_CHECK_AFTER = 0.0
            _serve(acme)
            _serve(acme)
            # the pool's first connection is checked on its first hand-out (never handed back before)
            assert (fresh, len(checked) - fresh) == (1, 2)

    in_own_thread(body)


def test_a_connection_that_died_while_idle_is_replaced_by_the_check(in_own_thread, settings):
    def body() -> None:
        acme, _globex = _organizations()
        settings.DB_POOL_CHECK_AFTER = 0.2
        with pooled_default(max_size=1) as pooled:
            _serve(acme)
            pooled.ensure_connection()
            pid = pooled.connection.info.backend_pid
            pooled.close()
            params = pooled.settings_dict
            with psycopg.connect(
                dbname=params["NAME"], user=params["USER"], host=params["HOST"], port=params["PORT"] or None
            ) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", [pid])
            time.sleep(0.3)
            _serve(acme)  # checked, found dead, replaced: the request does not fail
            pooled.ensure_connection()
            assert pooled.connection.info.backend_pid != pid

    in_own_thread(body)


# ---- date-times read by psycopg's own loader -------------------------------------------------------------

DATE_TIMES = {
    "2026-03-29 01:30:00+00": datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.UTC),
    "2026-12-07 05:10:11.123456+00": datetime.datetime(2026, 12, 7, 5, 10, 11, 123456, tzinfo=datetime.UTC),
    "2026-07-01 12:00:00+02": datetime.datetime(2026, 7, 1, 10, 0, tzinfo=datetime.UTC),  # another offset
    "0001-01-01 00:00:00+00": datetime.datetime(1, 1, 1, tzinfo=datetime.UTC),
    "9999-12-31 23:59:59.999999+00": datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.UTC),
}


def test_date_times_are_read_by_psycopgs_own_loader_in_utc(db):
    """What Django's Python loader gives (aware, datetime.UTC), from psycopg's compiled loader."""
    with connection.cursor() as cursor:
        loader = connection.connection.adapters.get_loader(backend._TIMESTAMPTZ, psycopg.pq.Format.TEXT)
        assert loader is backend._StockTimestamptzLoader
        assert "psycopg_binary" in loader.__module__ or "psycopg_c" in loader.__module__  # compiled here
        for text, expected in DATE_TIMES.items():
            cursor.execute("SELECT %s::timestamptz", [text])
            [[value]] = cursor.fetchall()
            assert value == expected and value.tzinfo is datetime.UTC, text


def test_server_side_cursors_read_date_times_alike(db):
    """QuerySet.iterator() reads through a named (server-side) cursor, made here as Django makes it."""
    with transaction.atomic():
        read = list(Organization.objects.order_by("pk").values_list("created_at", flat=True).iterator(1))
    assert read == list(Organization.objects.order_by("pk").values_list("created_at", flat=True))
    assert read and all(value.tzinfo is datetime.UTC for value in read)
