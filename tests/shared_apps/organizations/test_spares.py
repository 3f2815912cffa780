"""The pool of spare schemas: provisioning renames a spare of the template's current state instead of cloning,
gives it back when it fails, falls back to cloning without one; the top-up fills the pool to the setting,
never beyond, and drops stale spares; an organization made from a spare works like a cloned one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import django_rq
import pytest
import redis
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from shared_apps.organizations import cloning, spares
from shared_apps.organizations.exceptions import DomainTaken
from shared_apps.organizations.migrating import migrate_organizations
from shared_apps.organizations.models import Domain, Organization, SpareSchema
from shared_apps.organizations.services import schema_drop
from shared_apps.organizations.spares import SPARES_LOCK_KEY, spares_top_up
from shared_apps.users.models import User
from tests.conftest import PASSWORD, InThread, client_for, host_of
from tests.shared_apps.organizations.test_cloning import TEMPLATE, catalog
from tests.shared_apps.organizations.test_provisioning import leftovers, provision

pytestmark = pytest.mark.usefixtures("public")


def schema_oid(name: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [name])
        row = cursor.fetchone()
        return int(row[0]) if row else None


def pool() -> list[str]:
    return list(SpareSchema.objects.values_list("schema_name", flat=True))


@pytest.fixture
def clones(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The schemas provisioning cloned from the template (rather than took from the pool)."""
    made: list[str] = []
    real = cloning.clone_template
    from shared_apps.organizations import services

    def counting(schema_name: str, **kwargs: Any) -> str:
        made.append(schema_name)
        return real(schema_name, **kwargs)

    monkeypatch.setattr(services, "clone_template", counting)
    return made


def test_provisioning_renames_a_spare_and_the_spare_is_gone(settings, clones):
    settings.ORGANIZATION_SPARE_SCHEMAS = 1
    [spare] = spares_top_up()["created"]
    assert pool() == [spare]
    spare_oid = schema_oid(spare)

    organization = provision("sparrow")

    assert clones == []
    assert schema_oid("org_sparrow") == spare_oid  # the very schema, renamed
    assert schema_oid(spare) is None and pool() == []
    assert organization.schema_name == "org_sparrow"
    with schema_context("org_sparrow"):
        assert User.objects.get().email == "boss@initech.test"


def test_a_failing_provisioning_gives_the_spare_back_untouched(settings, clones):
    settings.ORGANIZATION_SPARE_SCHEMAS = 1
    [spare] = spares_top_up()["created"]
    spare_oid = schema_oid(spare)
    row = SpareSchema.objects.get()
    # The primary domain is already taken: the step after the schema was taken fails.
    acme = Organization.objects.get(slug="acme")
    Domain.objects.create(domain=f"late.{settings.BASE_DOMAIN}", tenant=acme, is_primary=False)

    with pytest.raises(DomainTaken):
        provision("late")

    assert leftovers("late") == {"organization": False, "domain": True, "schema": False}
    assert schema_oid(spare) == spare_oid
    assert SpareSchema.objects.get() == row and row.fingerprint == cloning.template_fingerprint()
    with connection.cursor() as cursor:  # no admin was left in it
        cursor.execute(f'SELECT count(*) FROM "{spare}".users_user')
        assert cursor.fetchone()[0] == 0
    # and it is still the one the next provisioning takes
    provision("later")
    assert schema_oid("org_later") == spare_oid and clones == []


def test_without_a_spare_provisioning_clones_and_asks_for_a_top_up(
    settings, clones, django_capture_on_commit_callbacks
):
    settings.ORGANIZATION_SPARE_SCHEMAS = 1
    queue = django_rq.get_queue("default")
    queue.empty()
    with django_capture_on_commit_callbacks(execute=True):  # (django-rq enqueues when the work commits)
        provision("coldstart")
    assert clones == ["org_coldstart"]
    assert [job.func_name for job in queue.jobs] == [spares.TOP_UP_JOB]
    assert queue.jobs[0].meta.get("schema_name") is None  # a platform job, not an organization's


def test_provisioning_succeeds_when_the_top_up_cannot_be_enqueued(settings, monkeypatch):
    settings.ORGANIZATION_SPARE_SCHEMAS = 1
    from shared_apps.organizations import jobs

    def unreachable(name: str = "default") -> None:
        raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(jobs, "get_queue", unreachable)
    organization = provision("offline")
    assert organization.pk and schema_exists("org_offline")


def test_a_stale_spare_is_never_used_and_the_top_up_replaces_it(settings, clones):
    settings.ORGANIZATION_SPARE_SCHEMAS = 1
    [stale] = spares_top_up()["created"]
    # cloned before a template migration: its recorded state is not the template's any more
    SpareSchema.objects.filter(schema_name=stale).update(fingerprint="0" * 64)

    provision("fresh")
    assert clones == ["org_fresh"]
    assert schema_exists(stale) and pool() == [stale]

    done = spares_top_up()
    assert done["dropped"] == [stale] and len(done["created"]) == 1
    assert not schema_exists(stale)
    [fresh] = pool()
    assert SpareSchema.objects.get().fingerprint == cloning.template_fingerprint()
    assert schema_exists(fresh)


def test_a_spare_whose_schema_is_gone_is_skipped_and_forgotten(settings, clones):
    settings.ORGANIZATION_SPARE_SCHEMAS = 1
    [lost] = spares_top_up()["created"]
    schema_drop(lost, database="default")
    provision("unlucky")
    assert clones == ["org_unlucky"]
    done = spares_top_up()
    assert done["dropped"] == [lost] and len(done["created"]) == 1


def test_the_top_up_fills_to_the_setting_and_not_beyond(settings):
    settings.ORGANIZATION_SPARE_SCHEMAS = 2
    assert len(spares_top_up()["created"]) == 2
    assert spares_top_up() == {"created": [], "dropped": [], "busy": False}
    assert len(pool()) == 2 and all(schema_exists(name) for name in pool())
    assert all(name.startswith("spare_") for name in pool())

    settings.ORGANIZATION_SPARE_SCHEMAS = 1  # lowered: the newest is dropped
    newest = pool()[-1]
    assert spares_top_up()["dropped"] == [newest]
    assert len(pool()) == 1 and not schema_exists(newest)


def test_a_top_up_leaves_the_pool_to_one_already_running(settings, side_connection):
    settings.ORGANIZATION_SPARE_SCHEMAS = 2
    with side_connection.cursor() as cursor:  # another worker's top-up, mid-way
        cursor.execute("BEGIN")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SPARES_LOCK_KEY])
    assert spares_top_up() == {"created": [], "dropped": [], "busy": True}
    assert pool() == []
    with side_connection.cursor() as cursor:
        cursor.execute("COMMIT")
    assert len(spares_top_up()["created"]) == 2


def test_the_template_dump_names_its_schema_only_where_postgres_resolves_it_by_oid():
    """Renaming is safe only if no object keeps the schema's name in text: function bodies and their
    `SET search_path`, views and rules (re-parsed from text on restore), defaults and generated columns."""
    sql = "".join(text for kind, text in cloning.template_capture().segments if kind == "sql")
    bodies = re.findall(r"AS (\$\w*\$)(.*?)\1", sql, flags=re.DOTALL)
    assert bodies  # the trigger functions are there
    assert [body for _tag, body in bodies if TEMPLATE in body] == []
    assert "search_path" not in sql.replace("SELECT pg_catalog.set_config('search_path'", "")
    assert not re.search(r"CREATE (OR REPLACE )?(VIEW|RULE|MATERIALIZED VIEW)", sql)
    # every other mention qualifies a name (schema.object), creates the schema, or is a comment
    rest = re.sub(rf"{TEMPLATE}\.|CREATE SCHEMA {TEMPLATE};|^--.*$", "", sql, flags=re.MULTILINE)
    assert TEMPLATE not in rest


def test_an_organization_from_a_spare_equals_a_clone_and_keeps_no_trace_of_the_spare(settings, clones):
    settings.ORGANIZATION_SPARE_SCHEMAS = 1
    [spare] = spares_top_up()["created"]
    provision("lookalike")
    assert clones == []
    renamed = catalog("org_lookalike")
    assert renamed == catalog(TEMPLATE)
    assert spare not in repr(renamed)
    with connection.cursor() as cursor:  # nothing in its catalog keeps the spare's name in text
        cursor.execute(
            """SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'org_lookalike'
                 AND (p.prosrc LIKE %(name)s OR array_to_string(p.proconfig, ',') LIKE %(name)s)""",
            {"name": f"%{spare}%"},
        )
        assert cursor.fetchall() == []


def test_an_organization_from_a_spare_works_end_to_end(settings, clones):
    settings.ORGANIZATION_SPARE_SCHEMAS = 1
    spares_top_up()
    organization = organization_from_spare("endtoend")
    assert clones == []
    with schema_context(organization.schema_name):
        admin = User.objects.get()
    client = client_for(organization, admin)
    assert client.defaults["HTTP_HOST"] == host_of(organization)

    created = client.post(
        "/api/leads/", {"name": "Wilhelmina Quackenbush", "company": "Zephyrine Labs"}, format="json"
    )
    assert created.status_code == 201, created.content
    lead_id = created.json()["id"]
    # full text, and a misspelling corrected against the vocabulary the insert trigger wrote
    for query in ("quackenbush", "Wilhelmena Quakenbush"):
        found = client.get("/api/search/", {"q": query}).json()["results"]
        assert [(row["type"], row["title"]) for row in found] == [("lead", "Wilhelmina Quackenbush")]
    with schema_context(organization.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM search_searchword WHERE word IN ('quackenbush', 'zephyrine')")
        assert cursor.fetchone()[0] == 2

    moved = client.post(f"/api/leads/{lead_id}/transition/", {"stage": "CONTACTED"}, format="json")
    assert moved.status_code == 200, moved.content
    logged = client.post(
        f"/api/leads/{lead_id}/activities/", {"type": "CALL", "subject": "Intro call"}, format="json"
    )
    assert logged.status_code == 201, logged.content
    timeline = client.get(f"/api/leads/{lead_id}/activities/").json()["results"]
    assert {"STAGE_CHANGE", "CALL"} <= {entry["type"] for entry in timeline}
    renamed = client.patch(f"/api/leads/{lead_id}/", {"name": "Wilhelmina Xylophage"}, format="json")
    assert renamed.status_code == 200, renamed.content
    found = client.get("/api/search/", {"q": "Xylofage"}).json()["results"]  # the update trigger too
    assert [row["title"] for row in found] == ["Wilhelmina Xylophage"]


def organization_from_spare(slug: str) -> Organization:
    return provision(slug, admin_email=f"admin@{slug}.test", admin_password=PASSWORD)


@pytest.fixture
def side_connection() -> Iterator[Any]:
    """A connection of its own to the test database, outside the test's transaction (autocommit)."""
    raw = connection.get_new_connection(connection.get_connection_params())
    raw.autocommit = True
    yield raw
    raw.close()


def _remove(slugs: list[str]) -> None:
    connection.set_schema_to_public()
    for organization in Organization.objects.filter(slug__in=slugs):
        schema_drop(organization.schema_name, database="default")
        Domain.objects.filter(tenant=organization).delete()
        organization.delete(force_drop=False)
    spares_top_up(wanted=0)


def test_concurrent_provisionings_take_different_spares(settings, clones, side_connection):
    """Committed for real, in threads of their own (as web requests and a worker would), so that each sees
    the others' locks; removed at the end."""
    settings.ORGANIZATION_SPARE_SCHEMAS = 3
    slugs = ["skipper", "racer-one", "racer-two"]
    try:
        InThread(spares_top_up).join()
        first, second, third = pool()
        oids = {schema_oid(name): name for name in (first, second, third)}
        # A provisioning in progress holds the oldest spare: the next one takes another without waiting.
        with side_connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                "SELECT id FROM organizations_spareschema WHERE schema_name = %s FOR UPDATE", [first]
            )
        InThread(organization_from_spare, "skipper").join(30)
        assert oids[schema_oid("org_skipper")] == second
        with side_connection.cursor() as cursor:
            cursor.execute("ROLLBACK")

        # Two at once: two spares, no clone.
        racers = [InThread(organization_from_spare, slug) for slug in slugs[1:]]
        for racer in racers:
            racer.join()
        assert {oids.get(schema_oid(f"org_racer_{n}")) for n in ("one", "two")} == {first, third}
        assert clones == [] and pool() == []
    finally:
        InThread(_remove, slugs).join()


def test_the_scheduler_tops_the_pool_up_every_minute(settings):
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=None)  # type: ignore[arg-type]
    scheduler.load_config_from_file(str(settings.BASE_DIR / "config" / "cron.py"))
    schedules = {job.func_name: job.cron for job in scheduler.get_jobs()}
    assert schedules[spares.TOP_UP_JOB] == "* * * * *"


def test_spares_are_invisible_to_migrations_and_the_organization_list(settings, platform_api):
    """The spare is committed by another connection, as a worker's would be: a top-up in this test's
    transaction would hold the template lock that migrate_organizations waits for."""
    settings.ORGANIZATION_SPARE_SCHEMAS = 1
    try:
        [spare] = InThread(spares_top_up).join()["created"]
        before = platform_api.get("/api/platform/organizations/").json()["results"]

        report = migrate_organizations(workers=1)
        assert not report.failed and not report.missing_schemas
        assert spare not in repr(report)
        listed = platform_api.get("/api/platform/organizations/").json()["results"]
        assert listed == before and not any("spare" in row["slug"] for row in listed)
        assert pool() == [spare] and schema_exists(spare)
    finally:
        InThread(lambda: spares_top_up(wanted=0)).join()


def test_platform_setup_asks_a_worker_to_refresh_the_pool(settings, django_capture_on_commit_callbacks):
    """After a release's migrations the spares may be stale: the worker drops and replaces them."""
    from django.core.management import call_command

    settings.ORGANIZATION_SPARE_SCHEMAS = 1
    queue = django_rq.get_queue("default")
    queue.empty()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("platform_setup", verbosity=0)
    assert [job.func_name for job in queue.jobs] == [spares.TOP_UP_JOB]
