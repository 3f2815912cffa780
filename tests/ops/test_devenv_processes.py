"""`make up` supervises every process the product needs: web, worker, scheduler and the inbound SMTP receiver,
which answers real SMTP on the port it is given."""

from __future__ import annotations

import os
import signal
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


def test_sigterm_stops_make_up_as_ctrl_c_does() -> None:
    """`up` turns SIGTERM into the KeyboardInterrupt its `finally` stops the children on (without it the
    supervisor dies at once and its children keep running)."""
    script = (
        "import sys, time\n"
        "from config.devenv import stop_on_signals\n"
        "stop_on_signals()\n"
        "try:\n"
        "    print('ready', flush=True)\n"  # inside the try: the signal may come at once
        "    time.sleep(60)\n"
        "except KeyboardInterrupt:\n"
        "    print('stopping the children', flush=True)\n"
        "    sys.exit(0)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=20)
    assert (process.returncode, out.strip()) == (0, "stopping the children")
