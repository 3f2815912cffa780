from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from shared_apps.mailroute.server import controller


class Command(BaseCommand):
    help = "Run the inbound SMTP receiver (INBOUND_SMTP_HOST:INBOUND_SMTP_PORT) until SIGTERM or Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="default: INBOUND_SMTP_HOST")
        parser.add_argument("--port", type=int, default=None, help="default: INBOUND_SMTP_PORT")

    def handle(self, *args: Any, **options: Any) -> None:
        server = controller(host=options["host"], port=options["port"])
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        server.start()
        self.stdout.write(
            f"inbound SMTP on {server.hostname}:{server.port} for *@{settings.INBOUND_DOMAIN}"
            f" (messages up to {settings.INBOUND_MAX_BYTES} bytes"
            f"{', STARTTLS' if settings.INBOUND_TLS_CERT else ''})"
        )
        try:
            stop.wait()
        finally:
            server.stop()
