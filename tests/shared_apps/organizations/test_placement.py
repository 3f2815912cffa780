"""Organizations on several databases: placement, requests and jobs routed by it, moves, migrations,
backup/restore across databases. `shard2` is a second test database on the same server.

Moves and cross-database provisioning commit on two connections (pg_dump reads committed data), so these
tests run outside the usual rolled-back test transaction and remove what they create themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any

import django_rq
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connections
from django.utils import timezone
from django_tenants.utils import schema_context, schema_exists
from rest_framework.test import APIClient

from shared_apps.audit.models import AuditEvent
from shared_apps.core.db import connection
from shared_apps.organizations import pgdump, placement
from shared_apps.organizations.backup import table_counts
from shared_apps.organizations.jobs import enqueue_in_organization, tenant_job
from shared_apps.organizations.migrating import migrate_organizations
from shared_apps.organizations.models import Domain, Organization
from shared_apps.organizations.services import (
    database_prepare,
    organization_delete,
    organization_provision,
    organization_purge,
    schema_drop,
)
from shared_apps.users.models import AuthToken, User
from shared_apps.users.services import token_issue
from tenant_apps.leads.models import Lead
from tests.conftest import PASSWORD, InThread, host_of

SHARD = "shard2"


@pytest.mark.django_db  # so that pytest-django sets up the test database when this module runs alone
def test_the_second_database_is_a_test_database():
    # tests/conftest.py makes it for every run; no placement switch here (the test runner wraps this
    # test's connections, the others below run outside its transactions)
    name = connections[SHARD].settings_dict["NAME"]
    assert name == settings.DATABASES[SHARD]["TEST"]["NAME"] and name.startswith("test")
    assert placement.database_aliases() == ["default", SHARD]


@pytest.fixture(scope="module")
def shard(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        if not connections[SHARD].settings_dict["NAME"].startswith("test"):
            pytest.fail("the shard2 test database was not set up (run the whole module)")
        database_prepare(SHARD)
        yield
        placement.close_all()  # the test database can only be dropped once nobody is connected


@pytest.fixture
def committed(shard: None, django_db_blocker: Any) -> Iterator[Callable[..., Organization]]:
    """committed(slug, database) provisions an organization for real; it is removed after the test."""
    made: list[str] = []

    def provision(slug: str, database: str = SHARD) -> Organization:
        made.append(slug)
        return organization_provision(
            name=slug.title(),
            slug=slug,
            admin_email=f"admin@{slug}.test",
            admin_password=PASSWORD,
            database=database,
        )

    with django_db_blocker.unblock():
        try:
            yield provision
        finally:
            placement.activate(placement.DEFAULT)
            connection.set_schema_to_public()
            for organization in Organization.objects.filter(slug__in=made):
                for database in placement.database_aliases():
                    schema_drop(organization.schema_name, database=database)
                Domain.objects.filter(tenant=organization).delete()
                organization.delete(force_drop=False)


def client_of(organization: Organization, admin: str = "") -> APIClient:
    client = APIClient(HTTP_HOST=host_of(organization))
    with placement.using(organization.database), schema_context(organization.schema_name):
        raw, _ = token_issue(email=admin or f"admin@{organization.slug}.test", password=PASSWORD)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def schema_on(database: str, schema: str) -> bool:
    with placement.using(database):
        return schema_exists(schema)


def lead_names(database: str, schema: str) -> list[str]:
    with placement.using(database), schema_context(schema):
        return sorted(Lead.objects.values_list("name", flat=True))


def test_provisioning_places_the_schema_on_the_chosen_database(committed):
    organization = committed("shardco")
    assert Organization.objects.get(slug="shardco").database == SHARD
    assert schema_on(SHARD, "org_shardco") and not schema_on("default", "org_shardco")
    with placement.using(SHARD), schema_context("org_shardco"):
        assert User.objects.filter(email="admin@shardco.test").exists()
    assert organization.database == SHARD


def test_requests_read_and_write_the_organizations_own_database(committed):
    primary = committed("homeco", database="default")
    remote = committed("remoteco")
    home_client, remote_client = client_of(primary), client_of(remote)
    # interleaved on one thread and one set of connections: each request sees only its own database
    pairs = ((remote_client, "Remote lead"), (home_client, "Home lead"), (remote_client, "Two"))
    for number, (client, name) in enumerate(pairs):
        response = client.post(
            "/api/leads/", {"name": name, "email": f"x{number}@example.com"}, format="json"
        )
        assert response.status_code == 201, response.content
    assert lead_names(SHARD, "org_remoteco") == ["Remote lead", "Two"]
    assert lead_names("default", "org_homeco") == ["Home lead"]
    listed = remote_client.get("/api/leads/").json()
    assert sorted(lead["name"] for lead in listed["results"]) == ["Remote lead", "Two"]
    # the root domain after an organization on another database: the platform is on the primary again
    assert APIClient(HTTP_HOST=settings.BASE_DOMAIN).get("/healthz").status_code == 200
    assert placement.active_database() == placement.DEFAULT


def test_an_organization_of_one_database_cannot_reach_anothers_data(committed):
    remote = committed("remoteco")
    committed("homeco", database="default")
    remote_client = client_of(remote)
    remote_client.post("/api/leads/", {"name": "Mine", "email": "m@example.com"}, format="json")
    # the other organization's host with this organization's token: refused, nothing leaks
    stranger = APIClient(HTTP_HOST=f"homeco.{settings.BASE_DOMAIN}")
    stranger.credentials(HTTP_AUTHORIZATION=remote_client._credentials["HTTP_AUTHORIZATION"])
    assert stranger.get("/api/leads/").status_code == 401


@tenant_job
def where_am_i() -> tuple[str, int]:
    return connection.settings_dict["NAME"], Lead.objects.count()


def test_jobs_run_on_the_organizations_database_even_after_a_move(committed):
    remote = committed("jobco")
    client_of(remote).post("/api/leads/", {"name": "Job lead", "email": "j@example.com"}, format="json")
    queue = django_rq.get_queue("default")
    queue.empty()
    job = enqueue_in_organization("org_jobco", where_am_i)
    moved = enqueue_in_organization("org_jobco", where_am_i)
    django_rq.get_worker("default", worker_class="rq.SimpleWorker").work(burst=True, max_jobs=1)
    job.refresh()
    assert job.return_value() == (settings.DATABASES[SHARD]["TEST"]["NAME"], 1)
    call_command("org_move", "jobco", "--to", "default", stdout=StringIO())
    django_rq.get_worker("default", worker_class="rq.SimpleWorker").work(burst=True)
    moved.refresh()
    assert moved.return_value() == (connections["primary"].settings_dict["NAME"], 1)
    assert placement.active_database() == placement.DEFAULT


def test_move_copies_verifies_switches_and_drops_the_source(committed):
    organization = committed("moveco", database="default")
    client = client_of(organization)
    for name in ("Ada", "Grace", "Linus"):
        client.post("/api/leads/", {"name": name, "email": f"{name}@example.com"}, format="json")
    with schema_context("org_moveco"):
        lead = Lead.objects.get(name="Ada")
        before = table_counts("org_moveco")

    out = StringIO()
    call_command("org_move", "moveco", "--to", SHARD, stdout=out)
    assert "moved moveco from default to shard2" in out.getvalue()
    assert Organization.objects.get(slug="moveco").database == SHARD
    assert not schema_on("default", "org_moveco")
    with placement.using(SHARD):
        assert table_counts("org_moveco") == before
    # the same token, the same ids, now served from the other database; ids keep counting up
    assert client.get(f"/api/leads/{lead.pk}/").json()["name"] == "Ada"
    created = client.post("/api/leads/", {"name": "After", "email": "a@example.com"}, format="json")
    assert created.status_code == 201 and created.json()["id"] > lead.pk
    stage = client.post(f"/api/leads/{lead.pk}/transition/", {"stage": "CONTACTED"}, format="json")
    assert stage.status_code == 200, stage.content

    call_command("org_move", "moveco", "--to", "default", stdout=StringIO())
    assert Organization.objects.get(slug="moveco").database == "default"
    # each move is in the platform's audit log (a command: no operator, "system")
    with schema_context("public"):
        moves = AuditEvent.objects.filter(action="organization.moved", target_id=str(organization.pk))
        assert [(event.changes["database"], event.via) for event in moves.order_by("id")] == [
            (["default", SHARD], "system"),
            ([SHARD, "default"], "system"),
        ]
    assert not schema_on(SHARD, "org_moveco")
    assert lead_names("default", "org_moveco") == ["Ada", "After", "Grace", "Linus"]


@pytest.mark.parametrize(
    ("lost", "error"),
    [
        ("realtime_eventlog", DatabaseError),  # nothing refers to it: only the row counts catch it
        ("leads_lead", DatabaseError),  # activities refer to it: the foreign keys built after the rows do
    ],
)
def test_a_move_whose_copy_does_not_verify_changes_nothing(committed, monkeypatch, lost, error):
    organization = committed("badcopy", database="default")
    client_of(organization).post("/api/leads/", {"name": "Kept", "email": "k@example.com"}, format="json")
    with placement.using("default"):
        assert table_counts("org_badcopy")[lost] > 0
    real_replay = pgdump.replay

    def lossy_replay(cursor: Any, prepared: list, *, old: str, new: str) -> None:
        real_replay(cursor, prepared, old=old, new=new)
        if any(kind == "copy" and lost in text.partition("\n")[0] for kind, text in prepared):
            cursor.execute(f'DELETE FROM "{new}".{lost}')  # rows lost on the way to the target

    monkeypatch.setattr(pgdump, "replay", lossy_replay)
    with pytest.raises((CommandError, error)) as raised:
        call_command("org_move", "badcopy", "--to", SHARD, stdout=StringIO())
    if lost == "realtime_eventlog":
        assert "move_verification_failed" in str(raised.value)
    organization.refresh_from_db()
    assert organization.database == "default" and organization.moving_since is None
    assert not schema_on(SHARD, "org_badcopy")
    assert lead_names("default", "org_badcopy") == ["Kept"]


def test_writes_answer_503_while_the_organization_is_moving_and_reads_go_on(committed):
    organization = committed("frozenco")
    client = client_of(organization)
    Organization.objects.filter(pk=organization.pk).update(moving_since=timezone.now())
    Organization.objects.get(pk=organization.pk).save()  # drops the cached route like a move does
    refused = client.post("/api/leads/", {"name": "Late", "email": "l@example.com"}, format="json")
    assert refused.status_code == 503 and refused["Retry-After"] == "5"
    assert refused.json()["code"] == "organization_moving"
    assert client.get("/api/leads/").status_code == 200
    assert lead_names(SHARD, "org_frozenco") == []


def test_a_write_waiting_on_the_moves_lock_fails_instead_of_landing_in_the_old_copy(committed):
    organization = committed("racer", database="default")
    client_of(organization).post("/api/leads/", {"name": "Before", "email": "b@example.com"}, format="json")

    def late_writer() -> None:
        # a request past the freeze check just before it was set, writing once the move holds its lock
        with connection.cursor() as cursor:
            for _ in range(500):
                cursor.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'org_racer' "
                    "AND c.relname = 'leads_lead' AND l.mode = 'ExclusiveLock' AND l.granted"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.01)
            else:
                raise AssertionError("the move never locked the table")
            cursor.execute("UPDATE org_racer.leads_lead SET name = 'Late'")

    writer = InThread(late_writer)
    call_command("org_move", "racer", "--to", SHARD, stdout=StringIO())
    with pytest.raises(DatabaseError):  # the table it waited for is gone: the write failed loudly
        writer.join(30)
    assert Organization.objects.get(slug="racer").database == SHARD
    assert lead_names(SHARD, "org_racer") == ["Before"]
    assert not schema_on("default", "org_racer")


def test_moves_are_refused_for_unknown_targets_and_no_ops(committed):
    committed("stayco")
    with pytest.raises(CommandError, match="invalid_choice"):
        call_command("org_move", "stayco", "--to", "nowhere", stdout=StringIO())
    with pytest.raises(CommandError, match="already_there"):
        call_command("org_move", "stayco", "--to", SHARD, stdout=StringIO())


def test_migrate_organizations_brings_every_database_level(committed):
    committed("behindco")
    with placement.using(SHARD), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM org_behindco.django_migrations WHERE app = 'search' "
            "AND name = '0003_search_words_deferrable'"
        )
    report = migrate_organizations(workers=1)
    assert "org_behindco" in report.behind and "org_behindco" in report.migrated
    assert not report.failed
    assert migrate_organizations(workers=1).behind == []


def test_backup_restores_into_another_database_under_a_new_slug(committed, tmp_path):
    source = committed("backco", database="default")
    client_of(source).post("/api/leads/", {"name": "Saved", "email": "s@example.com"}, format="json")
    path = str(tmp_path / "backco.tar.gz")
    call_command("org_backup", "backco", path, stdout=StringIO())
    out = StringIO()
    try:
        call_command("org_restore", path, "--slug", "backco2", "--database", SHARD, stdout=out)
        assert "on shard2" in out.getvalue()
        restored = Organization.objects.get(slug="backco2")
        assert restored.database == SHARD
        assert lead_names(SHARD, "org_backco2") == ["Saved"]
        assert (
            client_of(restored, "admin@backco.test").get("/api/leads/").json()["results"][0]["name"]
            == "Saved"
        )
    finally:
        for organization in Organization.objects.filter(slug="backco2"):
            schema_drop(organization.schema_name, database=SHARD)
            Domain.objects.filter(tenant=organization).delete()
            organization.delete(force_drop=False)


def test_operators_choose_the_database_when_creating_and_see_it(committed):
    operator = User.objects.create_superuser("placement-ops@platform.test", PASSWORD)
    try:
        raw, _ = token_issue(email=operator.email, password=PASSWORD, require_staff=True)
        client = APIClient(HTTP_HOST=settings.BASE_DOMAIN)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        body = {"name": "Api Co", "slug": "apico", "admin_email": "a@apico.test", "admin_password": PASSWORD}
        refused = client.post("/api/platform/organizations/", {**body, "database": "nowhere"}, format="json")
        assert refused.status_code == 400 and "database" in refused.json()["errors"]
        assert not Organization.objects.filter(slug="apico").exists()
        created = client.post("/api/platform/organizations/", {**body, "database": SHARD}, format="json")
        assert created.status_code == 201, created.content
        assert created.json()["database"] == SHARD
        assert schema_on(SHARD, "org_apico")
    finally:
        for organization in Organization.objects.filter(slug="apico"):
            schema_drop(organization.schema_name, database=SHARD)
            Domain.objects.filter(tenant=organization).delete()
            organization.delete(force_drop=False)
        # the public schema has no activities table for Django's cascade to look into
        AuthToken.objects.filter(user_id=operator.pk)._raw_delete(AuthToken.objects.db)
        User.objects.filter(pk=operator.pk)._raw_delete(User.objects.db)


def test_a_placed_connection_draws_from_its_own_databases_pool(shard, monkeypatch):
    # DB_POOL=1 gives every alias a psycopg pool, which Django keys by alias; the placed wrapper is
    # named "default" and must still get the second database's pool, not the primary's.
    for alias in ("default", SHARD):
        options = {**settings.DATABASES[alias]["OPTIONS"], "pool": {"min_size": 0, "max_size": 1}}
        monkeypatch.setitem(settings.DATABASES[alias], "OPTIONS", options)
        monkeypatch.setitem(settings.DATABASES[alias], "CONN_MAX_AGE", 0)
    wrapper = connections.create_connection(SHARD)
    placed = placement._placed_class(type(wrapper))
    wrapper.__class__ = placed
    wrapper.placement_alias, wrapper.alias = SHARD, "default"
    try:
        wrapper.pool.open()
        with wrapper.pool.connection() as raw:
            assert (
                raw.execute("SELECT current_database()").fetchone()[0]
                == (settings.DATABASES[SHARD]["TEST"]["NAME"])
            )
        assert wrapper.pool is not type(wrapper)._connection_pools.get("default")
    finally:
        wrapper.close_pool()
    assert SHARD not in type(wrapper)._connection_pools


def test_after_a_request_the_thread_is_back_on_the_primary(committed):
    remote = committed("afterco")
    assert client_of(remote).get("/api/leads/").status_code == 200
    # code running after the response on the same thread (a test, a command) must not be on `shard2`
    assert placement.active_database() == placement.DEFAULT
    assert connection.settings_dict["NAME"] == connections["primary"].settings_dict["NAME"]
    assert schema_on("default", "org_acme")


def test_a_job_of_a_frozen_organization_waits_for_the_move_to_finish(committed):
    organization = committed("waitco")
    Organization.objects.filter(pk=organization.pk).update(moving_since=timezone.now())
    job = django_rq.get_queue("default").create_job(where_am_i, meta={"schema_name": "org_waitco"})

    def work() -> tuple[Any, float]:
        value = job.perform()  # what the worker calls (its signal handlers need the main thread)
        return value, time.monotonic()

    worker = InThread(work)
    time.sleep(1.5)
    assert worker.thread.is_alive()  # still waiting for the freeze to lift
    lifted = time.monotonic()
    Organization.objects.filter(pk=organization.pk).update(moving_since=None)
    value, ran_at = worker.join(30)
    assert ran_at >= lifted
    assert value == (settings.DATABASES[SHARD]["TEST"]["NAME"], 0)


def test_deleting_and_purging_an_organization_on_another_database(committed):
    organization = committed("goneco")
    deleted = organization_delete(organization=organization)
    assert deleted.schema_name != "org_goneco"
    assert schema_on(SHARD, deleted.schema_name) and not schema_on(SHARD, "org_goneco")
    organization_purge(organization=deleted, confirm="goneco")
    assert not schema_on(SHARD, deleted.schema_name)
    assert not Organization.objects.filter(pk=organization.pk).exists()


def _operator_client() -> tuple[APIClient, User]:
    # a request through the test client leaves the connection in its organization's schema
    placement.activate(placement.DEFAULT)
    connection.set_schema_to_public()
    operator = User.objects.create_superuser(f"bulk-ops-{time.time_ns()}@platform.test", PASSWORD)
    raw, _ = token_issue(email=operator.email, password=PASSWORD, require_staff=True)
    client = APIClient(HTTP_HOST=settings.BASE_DOMAIN)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, operator


def _forget_operator(operator: User) -> None:
    placement.activate(placement.DEFAULT)
    connection.set_schema_to_public()
    AuthToken.objects.filter(user_id=operator.pk)._raw_delete(AuthToken.objects.db)
    User.objects.filter(pk=operator.pk)._raw_delete(User.objects.db)


def _run_low_jobs() -> None:
    django_rq.get_worker("low", worker_class="rq.SimpleWorker").work(burst=True)
    placement.activate(placement.DEFAULT)
    connection.set_schema_to_public()


def test_bulk_move_moves_each_organization_in_a_job_and_reports_each(committed):
    first = committed("bulkmove1", database="default")
    committed("bulkmove2", database="default")
    client_of(first).post("/api/leads/", {"name": "Kept", "email": "k@example.com"}, format="json")
    client, operator = _operator_client()
    try:
        body = {"action": "move", "slugs": ["bulkmove1", "bulkmove2", "nosuch"], "confirm": 3}
        refused = client.post("/api/platform/organizations-bulk/", {**body, "to": "nowhere"}, format="json")
        assert refused.status_code == 400 and "to" in refused.json()["errors"]
        assert client.post("/api/platform/organizations-bulk/", body, format="json").status_code == 400

        response = client.post("/api/platform/organizations-bulk/", {**body, "to": SHARD}, format="json")
        assert response.status_code == 202, response.content
        operation = response.json()
        assert operation["results"]["bulkmove1"] == {"status": "pending"}
        assert operation["results"]["nosuch"]["code"] == "organization_not_found"
        _run_low_jobs()

        followed = client.get(f"/api/platform/organizations-bulk/{operation['id']}/").json()
        assert followed["status"] == "finished"
        assert followed["results"]["bulkmove1"]["status"] == "done"
        assert followed["results"]["bulkmove1"]["database"] == SHARD
        assert followed["results"]["bulkmove2"]["status"] == "done"
        assert set(
            Organization.objects.filter(slug__in=["bulkmove1", "bulkmove2"]).values_list(
                "database", flat=True
            )
        ) == {SHARD}
        assert lead_names(SHARD, "org_bulkmove1") == ["Kept"]
        with schema_context("public"):
            for slug in ("bulkmove1", "bulkmove2"):
                organization = Organization.objects.get(slug=slug)
                actions = set(
                    AuditEvent.objects.filter(target_id=str(organization.pk)).values_list("action", flat=True)
                )
                assert {"organization.move_queued", "organization.moved"} <= actions

        # again: each is already there, reported per organization
        again = client.post(
            "/api/platform/organizations-bulk/",
            {"action": "move", "slugs": ["bulkmove1"], "confirm": 1, "to": SHARD},
            format="json",
        ).json()
        _run_low_jobs()
        result = client.get(f"/api/platform/organizations-bulk/{again['id']}/").json()["results"]["bulkmove1"]
        assert (result["status"], result["code"]) == ("failed", "already_there")
        assert client.get("/api/platform/organizations-bulk/999999/").status_code == 404
    finally:
        _forget_operator(operator)


def test_bulk_migrate_migrates_the_chosen_organizations_behind(committed):
    committed("bulkmig1")
    committed("bulkmig2", database="default")
    with placement.using(SHARD), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM org_bulkmig1.django_migrations WHERE app = 'search' "
            "AND name = '0003_search_words_deferrable'"
        )
    client, operator = _operator_client()
    try:
        body = {"action": "migrate", "slugs": ["bulkmig1", "bulkmig2"], "confirm": 2}
        response = client.post("/api/platform/organizations-bulk/", body, format="json")
        assert response.status_code == 202, response.content
        _run_low_jobs()
        followed = client.get(f"/api/platform/organizations-bulk/{response.json()['id']}/").json()
        assert followed["status"] == "finished"
        assert followed["results"] == {
            "bulkmig1": {"status": "done", "migrated": True},
            "bulkmig2": {"status": "done", "migrated": False},
        }
        assert migrate_organizations(workers=1).behind == []
        with schema_context("public"):
            organization = Organization.objects.get(slug="bulkmig1")
            actions = set(
                AuditEvent.objects.filter(target_id=str(organization.pk)).values_list("action", flat=True)
            )
            assert {"organization.migration_queued", "organization.migrated"} <= actions
    finally:
        _forget_operator(operator)
