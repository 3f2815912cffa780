"""A real uvicorn process serving the test database, an SSE client, and data committed for it to see.

Streams only stream under an ASGI server, and another process cannot see a test's transaction: what the
server must read (tokens, members, leads) is committed from helper threads (`committed`) and removed again
when the module ends.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django_tenants.utils import schema_context

from shared_apps.core.timeline import timeline_switch
from shared_apps.organizations import placement
from shared_apps.users.models import Role, User
from shared_apps.users.services import token_issue
from tenant_apps.leads.models import Lead
from tenant_apps.realtime.models import EventLog
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[3]
WEB_APPLICATION_NAME = "lp-realtime-test-web"
HEARTBEAT_SECONDS = 0.5
DB_THREADS = 1
# what one read of frames may take at most (heartbeats keep the socket busy, so its timeout never fires)
READ_SECONDS = 20.0
UVICORN = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
ACME, GLOBEX = "org_acme", "org_globex"


def committed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run fn on a connection of its own (real commits), in a thread; return its value or raise its error."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            placement.close_all()  # Django's connections and those to other databases the thread used

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def in_schema(schema: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """committed(fn) inside an organization's schema."""

    def run() -> Any:
        with schema_context(schema):
            return fn(*args, **kwargs)

    return committed(run)


def database_url(application_name: str = WEB_APPLICATION_NAME) -> str:
    """The test database, for the server process; its connections are named so the tests can count them."""
    db = settings.DATABASES["default"]
    query = f"application_name={application_name}"
    if db["HOST"].startswith("/"):
        return f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}&{query}"
    auth = f"{db['USER']}:{db['PASSWORD']}" if db["PASSWORD"] else db["USER"]
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}?{query}"


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]

    def request(self, host: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request("GET", path, headers={"Host": host, **(headers or {})})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


def _die_with_parent() -> None:
    """A test run that is killed must not leave its server behind (Linux: PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def uvicorn_server(probe: tuple[str, str] | None = None, **env: str) -> Iterator[Server]:
    """uvicorn (as `make up` runs it) on the test database, `env` added to the environment; ready once
    `probe` (host, path; by default acme's /api/me/) answers."""
    port = _free_port()
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "REALTIME_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "REALTIME_DB_THREADS": str(DB_THREADS),
        "LOG_LEVEL": "WARNING",
        **env,
    }
    process = subprocess.Popen(
        [*UVICORN, "--port", str(port), "--lifespan", "off", "--log-level", "warning", "--backlog", "2048"],
        env=full_env,
        cwd=ROOT,
        preexec_fn=_die_with_parent,
    )
    running = Server(port=port, process=process)
    host, path = probe or (f"acme.{settings.BASE_DOMAIN}", "/api/me/")
    deadline = time.monotonic() + 60
    while True:
        try:
            running.request(host, path)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("uvicorn did not start") from None
            time.sleep(0.1)
    try:
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(django_db_setup: None, django_db_blocker: Any) -> Iterator[Server]:
    """uvicorn on the test database, with a short heartbeat."""
    with uvicorn_server() as running, django_db_blocker.unblock():
        yield running


@dataclass
class World:
    """Committed members and tokens: acme's and globex's admins, and a rep of acme."""

    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    leads: dict[str, list[int]] = field(default_factory=lambda: {ACME: [], GLOBEX: []})

    def lead(self, schema: str, **fields: Any) -> int:
        from tenant_apps.leads import services

        fields.setdefault("name", f"Streamed lead {len(self.leads[schema]) + 1}")
        lead_id = in_schema(
            schema, lambda: services.lead_create(actor=None, allow_duplicate=True, **fields).pk
        )
        self.leads[schema].append(lead_id)
        return lead_id

    def transition(self, schema: str, lead_id: int, stage: str) -> None:
        from tenant_apps.leads import services

        in_schema(schema, services.lead_transition, lead_id=lead_id, to_stage=stage, actor=None)


def _sign_in(email: str) -> tuple[str, int]:
    raw, token = token_issue(email=email, password=PASSWORD)
    return raw, token.user_id


@pytest.fixture(scope="module")
def world(server: Server) -> Iterator[World]:
    made = World()
    starts = {
        schema: in_schema(
            schema, lambda: EventLog.objects.order_by("-id").values_list("id", flat=True).first() or 0
        )
        for schema in (ACME, GLOBEX)
    }
    made.tokens["acme"], made.ids["acme"] = in_schema(ACME, _sign_in, "admin@acme.test")
    made.tokens["globex"], made.ids["globex"] = in_schema(GLOBEX, _sign_in, "admin@globex.test")

    def make_rep() -> tuple[str, int]:
        User.objects.create_user("streamrep@acme.test", PASSWORD, role=Role.REP)
        return _sign_in("streamrep@acme.test")

    made.tokens["rep"], made.ids["rep"] = in_schema(ACME, make_rep)
    try:
        yield made
    finally:
        for schema in (ACME, GLOBEX):

            def clean(schema: str = schema) -> None:
                with transaction.atomic(), timeline_switch("purge"):
                    Lead.objects.filter(pk__in=made.leads[schema]).delete()
                EventLog.objects.filter(id__gt=starts[schema]).delete()
                User.objects.filter(email="streamrep@acme.test").delete()
                from shared_apps.users.models import AuthToken

                AuthToken.objects.filter(user_id__in=made.ids.values()).delete()

            in_schema(schema, clean)


@dataclass
class Frame:
    id: str | None = None
    event: str | None = None
    data: str | None = None
    comments: list[str] = field(default_factory=list)
    retry: str | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.data or "null")


class Stream:
    """An SSE client on http.client. Reads block (socket timeout = failure); heartbeats measure time."""

    def __init__(
        self, server: Server, host: str, headers: dict[str, str] | None = None, query: str = ""
    ) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
        self.conn.request("GET", "/api/pipeline/stream" + query, headers={"Host": host, **(headers or {})})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = dict(self.response.getheaders())
        self.within()

    def next(self) -> Frame:
        frame, seen = Frame(), False
        if time.monotonic() > self.deadline:
            raise TimeoutError("no such frame in time (heartbeats kept coming)")
        while True:
            line = self.response.readline()
            if not line:
                raise EOFError("the stream ended")
            text = line.decode().rstrip("\n")
            if text == "":
                if seen:
                    return frame
                continue
            seen = True
            name, _, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                frame.comments.append(value)
            elif name in ("id", "event", "data", "retry"):
                setattr(
                    frame, name, value if name != "data" or frame.data is None else frame.data + "\n" + value
                )

    def within(self, seconds: float = READ_SECONDS) -> None:
        self.deadline = time.monotonic() + seconds

    def until_ready(self) -> list[Frame]:
        """Every event frame before `ready` (the replay), and the ready frame's id in `self.position`."""
        self.within()
        frames = []
        while True:
            frame = self.next()
            if frame.event == "ready":
                self.position = int(frame.id or 0)
                return frames
            if frame.event is not None:
                frames.append(frame)

    def events(self, count: int) -> list[Frame]:
        """The next `count` event frames (heartbeats skipped)."""
        self.within()
        frames: list[Frame] = []
        while len(frames) < count:
            frame = self.next()
            if frame.event is not None:
                frames.append(frame)
        return frames

    def quiet_for(self, heartbeats: int) -> list[Frame]:
        """Read until `heartbeats` heartbeats came; the event frames seen meanwhile."""
        self.within()
        frames: list[Frame] = []
        while heartbeats > 0:
            frame = self.next()
            if frame.event is not None:
                frames.append(frame)
            elif "heartbeat" in frame.comments:
                heartbeats -= 1
        return frames

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def open_stream(server: Server, world: World) -> Iterator[Callable[..., Stream]]:
    """open_stream("acme", who="acme"|"globex"|"rep"|None, headers=..., query=...)."""
    streams: list[Stream] = []

    def open(
        org: str, who: str | None = None, headers: dict[str, str] | None = None, query: str = ""
    ) -> Stream:
        headers = dict(headers or {})
        if who is not None:
            headers["Authorization"] = f"Bearer {world.tokens[who]}"
        stream = Stream(server, f"{org}.{settings.BASE_DOMAIN}", headers, query)
        streams.append(stream)
        return stream

    yield open
    for stream in streams:
        stream.close()
