"""Fixtures shared by the whole suite.

Two organizations, acme and globex, are provisioned once per test session through the real provisioning
service (cloning the template), outside any test transaction; each test then runs in a transaction that
is rolled back, so rows a test writes never reach the next one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import django_rq
import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection, connections
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from shared_apps.core import nearcache
from shared_apps.http import throttling
from shared_apps.organizations import placement, usage
from shared_apps.organizations.models import Organization
from shared_apps.organizations.services import database_prepare, organization_provision, template_ensure
from shared_apps.users.models import Role, User
from shared_apps.users.services import token_issue
from tenant_apps.customfields import values as customfields_values

PASSWORD = "correct-horse-battery"
TEST_ORGANIZATIONS = {"acme": "Acme Test", "globex": "Globex Test"}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    # A run starts from an empty Redis database: an earlier run's template capture (cached per database name
    # and migration state) would otherwise be replayed into this run's freshly made database.
    caches["default"].clear()
    with django_db_blocker.unblock():
        _second_database("create")
        connection.set_schema_to_public()
        template_ensure()
        for slug, name in TEST_ORGANIZATIONS.items():
            if not Organization.objects.filter(slug=slug).exists():
                organization_provision(
                    name=name, slug=slug, admin_email=f"admin@{slug}.test", admin_password=PASSWORD
                )
    yield
    with django_db_blocker.unblock():
        _second_database("drop")


SECOND_DATABASE = "shard2"


def _second_database(action: str) -> None:
    """Every test sees two databases organizations can be placed on (migrate_organizations goes through
    both). The second one's test database is made empty here, for every run (Django's create_test_db would
    run django-tenants' migrate for every organization of the primary against it), and migrated for real by
    database_prepare; it is dropped at the end."""
    second = connections[SECOND_DATABASE]
    name = settings.DATABASES[SECOND_DATABASE]["TEST"]["NAME"]
    placement.close_all()
    with second._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if action == "create":
            cursor.execute(f'CREATE DATABASE "{name}"')
    if action == "create":
        database_prepare(SECOND_DATABASE)
        placement.close_all()


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Cache entries (and the process's copies of them) and queued jobs would outlive the rolled-back rows
    they describe (and request counts waiting in the process would land in the next test's organization of
    the same id)."""
    usage.flush_request_counts()
    caches["default"].clear()
    nearcache.clear()  # the process's copies of what was just flushed
    throttling.counts_forget()
    # a thread's memo of custom field definitions lasts until its next request or job: a test that calls
    # services directly would read the fields the previous test defined (and rolled back)
    customfields_values.forget()
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _time_zone_reset() -> Iterator[None]:
    """A request activates its member's or organization's time zone until the next request starts (the test
    client's requests run on the test's thread): the next test starts in UTC, as a server's next request
    does."""
    yield
    timezone.deactivate()


@pytest.fixture
def public(db: None) -> None:
    connection.set_schema_to_public()


@pytest.fixture
def org(db: None) -> Organization:
    return Organization.objects.get(slug="acme")


@pytest.fixture
def other_org(db: None) -> Organization:
    return Organization.objects.get(slug="globex")


# Long enough for a thread waiting on row locks under load; a deadlocked test fails instead of hanging.
JOIN_TIMEOUT = 120.0


class InThread:
    """`fn(*args)` running in a thread of its own, as a server thread or a worker would: its own connections
    (to every database, closed when it ends), outside the test's transaction. `join()` returns fn's value or
    raises its exception."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.outcome: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, args=(fn, args))
        self.thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self.outcome["value"] = fn(*args)
        except BaseException as exc:
            self.outcome["error"] = exc
        finally:
            placement.close_all()

    def join(self, timeout: float = JOIN_TIMEOUT) -> Any:
        self.settle(timeout)
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome.get("value")

    def settle(self, timeout: float = JOIN_TIMEOUT) -> Any:
        """fn's value, or the exception it raised as a value (for races where some must lose)."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError("the thread did not finish in time")
        return self.outcome.get("error", self.outcome.get("value"))


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether `condition()` holds within `timeout` seconds (polled every 10 ms): for what another thread or
    process does behind a test's back."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def host_of(organization: Organization | None) -> str:
    return f"{organization.slug}.{settings.BASE_DOMAIN}" if organization else settings.BASE_DOMAIN


@pytest.fixture
def member(org: Organization) -> Callable[..., User]:
    """member(role="rep", organization=org) creates a member in that organization's schema."""
    counter = iter(range(1, 10_000))

    def make(
        role: str = Role.REP, organization: Organization | None = None, email: str | None = None
    ) -> User:
        organization = organization or org
        with schema_context(organization.schema_name):
            return User.objects.create_user(
                email or f"{role}{next(counter)}@{organization.slug}.test", PASSWORD, role=role
            )

    return make


def client_for(organization: Organization | None, user: User | None = None) -> APIClient:
    """An API client on the organization's host (the root domain for None), signed in as `user`."""
    client = APIClient(HTTP_HOST=host_of(organization))
    if user is not None:
        schema = organization.schema_name if organization else "public"
        with schema_context(schema):
            raw, _ = token_issue(email=user.email, password=PASSWORD, require_staff=organization is None)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def api(org: Organization, member: Callable[..., User]) -> Callable[..., APIClient]:
    """api(role="admin", organization=org) returns a signed-in client for a new member of that role."""

    def make(role: str = Role.ADMIN, organization: Organization | None = None) -> APIClient:
        organization = organization or org
        return client_for(organization, member(role=role, organization=organization))

    return make


@pytest.fixture
def operator(public: None) -> User:
    return User.objects.create_superuser("ops@platform.test", PASSWORD)


@pytest.fixture
def platform_api(operator: User) -> APIClient:
    return client_for(None, operator)


@pytest.fixture
def run_jobs() -> Callable[..., list]:
    """Run every queued job in this process (rq SimpleWorker on the real Redis); returns the jobs run."""

    def run(queue: str = "default") -> list:
        rq_queue = django_rq.get_queue(queue)
        job_ids = list(rq_queue.job_ids)
        worker = django_rq.get_worker(queue, worker_class="rq.SimpleWorker")
        worker.work(burst=True)
        return [rq_queue.fetch_job(job_id) for job_id in job_ids]

    return run
