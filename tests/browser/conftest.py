"""Browser tests: Debian's Chromium, driven by Playwright, against uvicorn (ASGI, so the pipeline stream
streams) serving the test database in a subprocess.

The server is another process, so it cannot see rows inside a test's transaction: the data these tests use is
committed (outside any test transaction) and removed again when the module ends, before any other test runs.
Hosts such as acme.testserver.local reach the server through Chromium's host resolver rules. Screenshots of
the main pages land in .data/test-artifacts/ (gitignored)."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tests.conftest import PASSWORD

CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path(settings.BASE_DIR) / ".data" / "test-artifacts"
# From the field notes: what Debian's Chromium needs to run headless here, plus our test hosts.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--no-proxy-server",
    f"--host-resolver-rules=MAP *.{settings.BASE_DOMAIN} 127.0.0.1, MAP {settings.BASE_DOMAIN} 127.0.0.1",
]
# The server's database connections carry this name (libpq reads PGAPPNAME), so the tests can wait for them.
APPLICATION_NAME = "leadpulse-browser-test-server"
SKIP_REASON = (
    "Debian's chromium is not installed: `make test` installs it when run as root "
    "(apt-get install -y chromium); install it to run the browser tests"
)


@pytest.fixture(scope="module", autouse=True)
def _sync_queries_beside_playwright() -> Iterator[None]:
    """Playwright's sync API leaves its event loop set as running on this thread, and Django then refuses
    every synchronous query (the tests' own transactions included). Module-scoped, so it holds for the browser
    tests only and is set before their function-scoped database fixtures."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@contextmanager
def orm_allowed(django_db_blocker: Any) -> Iterator[None]:
    """Database access from the test process beside Playwright's event loop, outside any test transaction
    (session fixtures: these rows are committed, for the server process to see)."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with django_db_blocker.unblock():
            yield
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
        connection.set_schema_to_public()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(port: int, host: str, path: str, timeout: float = 5.0) -> int:
    """The status a GET answers with (headers only: a stream's body is never read)."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        client.request("GET", path, headers={"Host": f"{host}:{port}"})
        return client.getresponse().status
    finally:
        client.close()


@dataclass
class Server:
    port: int
    process: subprocess.Popen

    def url(self, slug: str | None = None, path: str = "/") -> str:
        host = f"{slug}.{settings.BASE_DOMAIN}" if slug else settings.BASE_DOMAIN
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def server(django_db_setup: None, django_db_blocker: Any) -> Iterator[Server]:
    """uvicorn on a free port, on the test database."""
    if CHROMIUM is None:
        pytest.skip(SKIP_REASON)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.browser.settings",
        "LEADPULSE_BROWSER_DATABASE": str(connection.settings_dict["NAME"]),
        "PGAPPNAME": APPLICATION_NAME,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = (ARTIFACTS / "uvicorn.log").open("w")
    argv = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
    argv += [
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        "1",
    ]
    process = subprocess.Popen(argv, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            http_status(port, settings.BASE_DOMAIN, "/sign-in/", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"uvicorn did not start; see {ARTIFACTS / 'uvicorn.log'}") from None
            time.sleep(0.2)
    yield Server(port, process)
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()
    _wait_for_disconnections(django_db_blocker)


def _wait_for_disconnections(django_db_blocker: Any, timeout: float = 5.0) -> None:
    """PostgreSQL notices a stopped client's connections a moment later; wait for them, so that the test
    database can be dropped at the end of the session."""
    deadline = time.monotonic() + timeout
    with orm_allowed(django_db_blocker), connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = %s",
                [APPLICATION_NAME],
            )
            if not cursor.fetchone()[0]:
                return
            time.sleep(0.1)


# Chromium's notice that the isolation headers need HTTPS: the test hosts are plain HTTP
NOT_OURS = ("Cross-Origin-Opener-Policy header has been ignored",)


class Watched:
    """A page whose console errors and uncaught exceptions are collected (each with the page's URL)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"{self.page.url}: {error}"))

    def _console(self, message: Any) -> None:
        if message.type == "error" and not any(text in message.text for text in NOT_OURS):
            self.errors.append(f"{self.page.url}: {message.text}")


@dataclass
class World:
    """What the browser tests work on, committed in acme's schema."""

    tag: str
    admin: User
    manager: User
    leads: dict[str, Any] = field(default_factory=dict)
    operator: User | None = None
    created_organizations: list[str] = field(default_factory=list)


def _seed(tag: str) -> World:
    from tenant_apps.activities.services import activity_log
    from tenant_apps.leads.services import lead_create, lead_transition
    from tenant_apps.tasks.services import task_create

    world = World(
        tag=tag,
        admin=User.objects.create_user(
            f"admin-{tag}@acme.test", PASSWORD, role=Role.ADMIN, full_name="Ada Admin"
        ),
        manager=User.objects.create_user(
            f"manager-{tag}@acme.test", PASSWORD, role=Role.MANAGER, full_name="Max Manager"
        ),
    )
    paths = {
        "NEW": [],
        "CONTACTED": ["CONTACTED"],
        "QUALIFIED": ["CONTACTED", "QUALIFIED"],
        "PROPOSAL": ["CONTACTED", "QUALIFIED", "PROPOSAL"],
        "NEGOTIATION": ["CONTACTED", "QUALIFIED", "PROPOSAL", "NEGOTIATION"],
        "WON": ["CONTACTED", "QUALIFIED", "PROPOSAL", "NEGOTIATION", "WON"],
        "LOST": ["LOST"],
    }
    # the leads the tests move, then some scenery for the screenshots
    plan = [
        ("drag-valid", "Dana Valid", "Validity Ltd", "NEW", "4200.00"),
        ("drag-invalid", "Ivan Invalid", "Refusal Inc", "NEW", "1800.00"),
        ("keyboard", "Kim Keyboard", "Keys & Co", "NEW", "950.00"),
        ("live", "Liv Live", "Realtime GmbH", "NEW", "12000.00"),
        ("mobile", "Mo Mobile", "Pocket Corp", "NEW", "700.00"),
        ("s1", "Sam Scenery", "Initech", "CONTACTED", "3100.00"),
        ("s2", "Quinn Qualified", "Umbrella", "QUALIFIED", "8800.00"),
        ("s3", "Pat Proposal", "Hooli", "PROPOSAL", "15000.00"),
        ("s4", "Nina Negotiation", "Stark Industries", "NEGOTIATION", "23000.00"),
        ("s5", "Walt Won", "Wayne Enterprises", "WON", "31000.00"),
        ("s6", "Lou Lost", "Cyberdyne", "LOST", "2000.00"),
    ]
    for key, name, company, stage, value in plan:
        lead = lead_create(
            actor=world.manager,
            name=f"{name} {tag}",
            company=company,
            value=value,
            owner_id=world.manager.pk,
            allow_duplicate=True,
        )
        for step in paths[stage]:
            lead = lead_transition(lead_id=lead.pk, to_stage=step, actor=world.manager)
        world.leads[key] = lead
    activity_log(
        actor=world.manager, type="CALL", lead_id=world.leads["s3"].pk, subject="Walked through the proposal"
    )
    task_create(
        actor=world.manager,
        title=f"Send the contract {tag}",
        due_at=timezone.now() - timedelta(days=1),
        lead_id=world.leads["s4"].pk,
    )
    return world


def _forget_sessions(user_ids: set[str]) -> None:
    from django.contrib.sessions.models import Session

    for session in Session.objects.all():
        if session.get_decoded().get("_auth_user_id") in user_ids:
            session.delete()


def _cleanup(world: World) -> None:
    from shared_apps.organizations.selectors import organization_get
    from shared_apps.organizations.services import organization_delete, organization_purge
    from tenant_apps.leads.models import Lead
    from tenant_apps.leads.services import lead_delete, lead_purge

    acme = Organization.objects.get(slug="acme")
    with schema_context(acme.schema_name):
        users = [world.admin, world.manager]
        # every lead these members touched, including any a test created through the pages
        for lead in Lead.objects.filter(name__endswith=world.tag):
            if lead.deleted_at is None:
                lead_delete(lead_id=lead.pk, actor=world.admin)
            lead_purge(lead_id=lead.pk, actor=world.admin)
        if apps.is_installed("tenant_apps.realtime"):  # the stream's log of what these tests did
            event_log = apps.get_model("realtime", "EventLog")
            event_log.objects.filter(actor_id__in=[user.pk for user in users]).delete()
        _forget_sessions({str(user.pk) for user in users})
        User.objects.filter(pk__in=[user.pk for user in users]).delete()
    for slug in world.created_organizations:
        organization = organization_delete(organization=organization_get(slug=slug))
        organization_purge(organization=organization, confirm=slug)
    if world.operator is not None:
        _forget_sessions({str(world.operator.pk)})
        # not .delete(): its collector would look for the member-only relations (activities...) in public
        with connection.cursor() as cursor:
            cursor.execute(f'DELETE FROM "{User._meta.db_table}" WHERE id = %s', [world.operator.pk])


@pytest.fixture(scope="module")
def world(server: Server, django_db_blocker: Any) -> Iterator[World]:
    tag = uuid.uuid4().hex[:6]
    with orm_allowed(django_db_blocker):
        acme = Organization.objects.get(slug="acme")
        with schema_context(acme.schema_name):
            created = _seed(tag)
        created.operator = User.objects.create_superuser(f"ops-{tag}@platform.test", PASSWORD)
    yield created
    with orm_allowed(django_db_blocker):
        _cleanup(created)


@pytest.fixture(scope="module")
def browser(world: World, browser_type_launch_args: dict) -> Iterator[Any]:
    """Debian's Chromium with the field notes' arguments (and pytest-playwright's launch options, such as
    --headed). Module-scoped, with Playwright started here rather than by pytest-playwright's session
    fixture: Playwright's sync API leaves its event loop set as running on this thread, and Django refuses
    every synchronous query while it is, so it must stop before the rest of the suite runs. Asking for
    `world` first makes the test database, the server and the data exist before the loop starts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            **{**browser_type_launch_args, "executable_path": CHROMIUM, "args": LAUNCH_ARGS}
        )
        yield launched
        launched.close()
        # The tests ran in a context of their own while Playwright was on (Django's connections are per
        # context): close that context's connection, or it would outlive the module, idle, and keep the
        # test database from being dropped.
        connections.close_all()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    """new_context(**options) opens a browser context (a fresh profile: its own cookies); all close after
    the test."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
