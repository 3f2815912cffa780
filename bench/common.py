"""Shared bench plumbing: a dedicated database, Django set-up and robust statistics."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit


def setup_django(database_suffix: str = "_bench") -> None:
    """Point Django at <db>_bench (created if missing) so benches never touch the dev or test data."""
    url = urlsplit(os.environ["DATABASE_URL"])
    os.environ["DATABASE_URL"] = urlunsplit(url._replace(path=url.path.rstrip("/") + database_suffix))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("CACHE_KEY_PREFIX", "lp-bench")
    from config.devenv import ensure_database

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("platform_setup", verbosity=0)


def own_redis(db: int) -> None:
    """Point REDIS_URL at database `db`: a running `make up` worker must not take a bench's jobs."""
    url = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    if url.scheme == "unix":
        query = "&".join(part for part in url.query.split("&") if part and not part.startswith("db="))
        os.environ["REDIS_URL"] = urlunsplit(url._replace(query=f"{query}&db={db}".lstrip("&")))
    else:
        os.environ["REDIS_URL"] = urlunsplit(url._replace(path=f"/{db}"))


def bench_redis(variable: str, default: int) -> int:
    """Give the bench a Redis database of its own on REDIS_URL's server: the number in `variable` (else
    `default`; never 0, `make up`'s). Refused while an rq worker is registered there (another run's, or a
    server's that would take the bench's jobs). Returns the database number."""
    import redis
    from rq import Worker

    db = int(os.environ.get(variable, str(default)))
    if db == 0:
        raise SystemExit(f"{variable}=0 is make up's Redis database; choose another")
    own_redis(db)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        workers = Worker.all(connection=client)
    finally:
        client.close()
    if workers:
        names = ", ".join(sorted(worker.name for worker in workers))
        raise SystemExit(
            f"Redis database {db} has rq workers registered ({names}); set {variable} to a free database"
        )
    return db


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    elapsed: list[float] = []
    yield lambda: elapsed[0]
    elapsed.append(time.perf_counter() - start)


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(samples), "p50": statistics.median(samples), "p95": p95, "min": ordered[0]}


def report(
    title: str,
    rows: dict[str, list[float]],
    unit: str = "ms",
    scale: float = 1000.0,
    baseline: str | None = None,
) -> None:
    print(f"\n{title}")
    base = statistics.median(rows[baseline]) if baseline else None
    for name, samples in rows.items():
        stats = summary(samples)
        ratio = f"  ratio to {baseline}: {statistics.median(samples) / base:.2f}x" if base else ""
        print(
            f"  {name:<34} n={stats['n']:<4} p50={stats['p50'] * scale:9.2f} {unit}"
            f"  p95={stats['p95'] * scale:9.2f} {unit}  min={stats['min'] * scale:9.2f} {unit}{ratio}"
        )


ROOT = Path(__file__).resolve().parent.parent
UVICORN = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]


def bench_organization(slug: str, name: str, password: str) -> Any:
    """The bench's organization, provisioned on the first run and kept for the next."""
    from shared_apps.organizations.models import Organization, OrganizationStatus
    from shared_apps.organizations.services import organization_provision

    organization = Organization.objects.filter(slug=slug).exclude(status=OrganizationStatus.DELETED).first()
    if organization is None:
        organization = organization_provision(
            name=name, slug=slug, admin_email=f"admin@{slug}.example", admin_password=password
        )
    return organization


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_uvicorn(env: dict[str, str], port: int, stderr: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """uvicorn serving config.asgi as `make up` runs it (no access log), once it accepts connections."""
    server = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
        [
            *UVICORN,
            "--port",
            str(port),
            "--backlog",
            "4096",
            "--lifespan",
            "off",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
        stderr=stderr,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("uvicorn did not start") from None
            time.sleep(0.1)


def share(items: list[Any], parts: int) -> list[list[Any]]:
    """`items` dealt into `parts` lists (one per concurrent client)."""
    return [items[index::parts] for index in range(parts)]


def concurrently(client: Callable[[Any], None], shares: list[list[Any]]) -> float:
    """`client(share)` for every share at once, a thread each; returns the seconds until all are done."""
    threads = [threading.Thread(target=client, args=(part,)) for part in shares]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start
