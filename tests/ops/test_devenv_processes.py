"""`make up` supervises every process the product needs: web, worker, scheduler and the inbound SMTP receiver,
which answers real SMTP on the port it is given."""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import time
from pathlib import Path

from config.devenv import process_commands
from tests.tenant_apps.realtime.conftest import _free_port, database_url

ROOT = Path(__file__).resolve().parents[2]


def test_make_up_runs_web_worker_scheduler_and_the_inbound_receiver() -> None:
    commands = process_commands({"PORT": "8123", "INBOUND_SMTP_PORT": "2626"}, "python")
    assert set(commands) == {"web", "worker", "scheduler", "inbound-smtp"}
    assert commands["inbound-smtp"][1:] == [
        "manage.py",
        "inbound_smtp",
        "--host",
        "127.0.0.1",
        "--port",
        "2626",
    ]
    assert "8123" in commands["web"]


def test_the_receiver_make_up_starts_speaks_smtp_and_refuses_unknown_recipients(db: None) -> None:
    port = _free_port()
    argv = process_commands({"INBOUND_SMTP_PORT": str(port)}, sys.executable)["inbound-smtp"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url()}
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", port, timeout=10)
                break
            except OSError:
                assert process.poll() is None, "the receiver exited"
                assert time.monotonic() < deadline, "the receiver did not start"
                time.sleep(0.2)
        with client:
            assert client.ehlo()[0] == 250
            assert client.mail("someone@example.test")[0] == 250
            assert client.rcpt("nobody-at-all@nowhere.example")[0] == 550
    finally:
        process.terminate()
        process.wait(timeout=10)
