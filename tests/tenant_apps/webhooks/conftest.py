"""A real HTTP receiver on 127.0.0.1 (http.server in a thread) and helpers for webhook tests."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import User
from tenant_apps.webhooks import services
from tenant_apps.webhooks.models import Endpoint

DOCS = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"
SECRET = "whsec_test-secret-0123456789abcdef"


def documented_verifier() -> Callable[..., bool]:
    """The verification snippet of docs/webhooks.md, run as published."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    [snippet] = [block for block in blocks if "def verify_leadpulse_signature" in block]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, str(DOCS), "exec"), namespace)  # noqa: S102 (our own documentation)
    return namespace["verify_leadpulse_signature"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event_id(self) -> str:
        return self.headers["X-LeadPulse-Event-Id"]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request. `fail_next` requests answer `fail_status`; `delay` seconds before answering;
    `status`/`reply`/`headers` shape the normal answer. Like a careful receiver, it processes each event id
    once (`processed`) and answers 2xx to duplicates without processing them again."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    processed: dict[str, int] = field(default_factory=dict)
    fail_next: int = 0
    fail_status: int = 500
    delay: float = 0.0
    status: int = 200
    reply: bytes = b"ok"
    reply_headers: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                status, reply = self.fail_status, b"receiver failure"
            else:
                status, reply = self.status, self.reply
            self.requests.append(Received(path, headers, body, status))
            if 200 <= status < 300:
                event_id = headers.get("X-LeadPulse-Event-Id", "")
                self.processed[event_id] = self.processed.get(event_id, 0) + 1
        return status, reply

    def successes(self) -> list[Received]:
        return [request for request in self.requests if 200 <= request.status < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, reply = state.answer(self.path, dict(self.headers.items()), body)
            try:
                self.send_response(status)
                for name, value in state.reply_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def make_endpoint(org: Organization, member: Callable[..., User]) -> Callable[..., Endpoint]:
    """make_endpoint(url, event_types=["*"], organization=org) through the service, by an admin."""

    def make(
        url: str, event_types: list[str] | None = None, organization: Organization | None = None
    ) -> Endpoint:
        organization = organization or org
        admin = member(role="admin", organization=organization)
        with schema_context(organization.schema_name):
            return services.endpoint_create(
                actor=admin, url=url, event_types=event_types or ["*"], secret=SECRET
            ).endpoint

    return make
