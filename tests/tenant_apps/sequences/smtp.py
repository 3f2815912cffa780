"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1, a free port), and the fixture pointing Django's
SMTP email backend at it."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Received:
    message: EmailMessage
    recipients: list[str]

    def __getitem__(self, header: str) -> Any:
        return self.message[header]

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content().replace("\r\n", "\n") if part is not None else ""


@dataclass
class Inbox:
    """What the server received; `refuse` holds recipients it answers 550 for, `data_reply` overrides the
    answer to DATA (e.g. "451 try again later")."""

    port: int = 0
    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    data_reply: str = ""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(Received(message=message, recipients=list(envelope.rcpt_tos)))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def reset(self) -> None:
        self.messages.clear()
        self.refuse.clear()
        self.data_reply = ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def _smtp_server() -> Iterator[Inbox]:
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command
    inbox = Inbox(port=_free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp(_smtp_server: Inbox, settings: Any) -> Iterator[Inbox]:
    """Django sends through its real SMTP backend to the local server; the inbox starts empty."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = _smtp_server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    _smtp_server.reset()
    yield _smtp_server
    _smtp_server.reset()
