"""The operators' console at 10,000 organizations: server time (p50/p95) and SQL queries per page of the
organization list (first page, a search, a filter, a sort), one organization's page and the platform
dashboard, at 100 organizations (the baseline, measured first in the same run) and at 10,000.

The organizations are public rows only (Organization, its Domain and a collected OrganizationUsage row, no
schemas): the console must never open an organization's schema, so the pages cost the same whether the
schemas exist or not. They live in a database of their own (BENCH_CONSOLE_DATABASE, default
lp_h22_console) and are rebuilt each run. Requests go through uvicorn serving config.asgi (as `make up`
runs it; its log goes to .data/bench-console-server.log), with bench.settings_console adding a first
middleware that reports each request's query count.
Targets: p95 < 300 ms for every page at 10,000, and queries at 10,000 equal to those at 100.
"""

from __future__ import annotations

import http.client
import os
import random
import subprocess
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.common import ROOT, bench_redis, free_port, setup_django, start_uvicorn, summary

DATABASE = os.environ.get("BENCH_CONSOLE_DATABASE", "lp_h22_console")
SCALES = [int(part) for part in os.environ.get("BENCH_CONSOLE_SCALES", "100,10000").split(",") if part]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
TARGET_P95_MS = 300.0
PREFIX = "cbench"
PLANS = ["free", "team", "business", "enterprise"]
WORDS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell", "soylent"]


def _use_own_database() -> None:
    url = urlsplit(os.environ["DATABASE_URL"])
    os.environ["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{DATABASE}"))


def _grow_to(count: int) -> None:
    """Bench organizations numbered 0..count-1 (public rows only), adding those missing."""
    from django.db import connection
    from django.utils import timezone

    from shared_apps.organizations.models import Domain, Organization, OrganizationUsage

    have = Organization.objects.filter(slug__startswith=PREFIX).count()
    if have >= count:
        return
    rng = random.Random(have)
    now = timezone.now()
    batch = 2000
    for start in range(have, count, batch):
        numbers = range(start, min(count, start + batch))
        organizations = Organization.objects.bulk_create(
            [
                Organization(
                    name=f"{WORDS[number % len(WORDS)].title()} {number:05d} Holdings",
                    slug=f"{PREFIX}-{number:05d}",
                    schema_name=f"org_{PREFIX}_{number:05d}",
                    status="suspended" if number % 17 == 0 else "active",
                    plan=PLANS[number % len(PLANS)],
                    admin_emails=f"owner{number}@{WORDS[number % len(WORDS)]}{number}.example",
                )
                for number in numbers
            ]
        )
        for organization in organizations:  # spread the sign-ups over two years
            organization.created_at = now - timedelta(days=rng.randrange(730))
        Organization.objects.bulk_update(organizations, ["created_at"], batch_size=1000)
        Domain.objects.bulk_create(
            [Domain(domain=f"{o.slug}.bench.example", tenant=o, is_primary=True) for o in organizations]
        )
        OrganizationUsage.objects.bulk_create(
            [
                OrganizationUsage(
                    organization=o,
                    collected_at=now,
                    members=rng.randrange(1, 80),
                    last_sign_in_at=now - timedelta(hours=rng.randrange(2000)),
                    last_active_at=now - timedelta(hours=rng.randrange(2000)),
                    leads=rng.randrange(50_000),
                    contacts=rng.randrange(20_000),
                    accounts=rng.randrange(5_000),
                    deals=rng.randrange(5_000),
                    activities=rng.randrange(500_000),
                    schema_bytes=rng.randrange(10**6, 10**10),
                    files=rng.randrange(1000),
                    file_bytes=rng.randrange(10**9),
                    api_requests_30d=rng.randrange(10**6),
                    api_4xx_30d=rng.randrange(10**4),
                    api_5xx_30d=rng.randrange(100),
                    imports_30d=rng.randrange(30),
                    webhook_failures_30d=rng.randrange(50) if rng.random() < 0.1 else 0,
                    failed_jobs=rng.randrange(20) if rng.random() < 0.05 else 0,
                    job_seconds_30d=rng.random() * 5000,
                    migrations_applied=120,
                    last_migration="search.0003_search_words_deferrable",
                )
                for o in organizations
            ]
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE organizations_organization, organizations_domain, organizations_organizationusage"
        )


def _reset() -> None:
    from shared_apps.organizations.models import Domain, Organization, OrganizationUsage

    OrganizationUsage.objects.filter(organization__slug__startswith=PREFIX).delete()
    Domain.objects.filter(tenant__slug__startswith=PREFIX).delete()
    Organization.objects.filter(slug__startswith=PREFIX)._raw_delete(Organization.objects.db)


def _session_cookie() -> str:
    """A signed-in operator's session (Django's test client writes it where the server reads it)."""
    from django.conf import settings
    from django.test import Client

    from shared_apps.users.models import User

    operator = User.objects.filter(email="bench-operator@platform.example").first()
    if operator is None:
        operator = User.objects.create_superuser("bench-operator@platform.example", "bench-password-2026")
    client = Client(HTTP_HOST=settings.BASE_DOMAIN)
    client.force_login(operator)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _pages(count: int) -> dict[str, str]:
    middle = f"{PREFIX}-{count // 2:05d}"
    return {
        "list, first page": "/",
        "list, search": "/?q=initech",
        "list, filter": "/?status=suspended&plan=team",
        "list, sort": "/?ordering=-api_requests_30d",
        "organization page": f"/organizations/{middle}/",
        "dashboard": "/dashboard/",
    }


def _get(port: int, host: str, path: str, cookie: str) -> tuple[float, int, int]:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        started = time.perf_counter()
        client.request("GET", path, headers={"Host": host, "Cookie": cookie})
        response = client.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:300]!r}")
        return elapsed, int(response.getheader("X-Bench-Queries", "-1")), len(body)
    finally:
        client.close()


def _measure(port: int, host: str, cookie: str, count: int) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for name, path in _pages(count).items():
        _get(port, host, path, cookie)  # warm: templates, the plan names, the session
        samples, queries, size = [], set(), 0
        for _ in range(ROUNDS):
            elapsed, counted, size = _get(port, host, path, cookie)
            samples.append(elapsed)
            queries.add(counted)
        figures[name] = {**summary(samples), "queries": sorted(queries), "kb": size / 1024}
    return figures


def main() -> None:
    bench_redis("BENCH_CONSOLE_REDIS_DB", 3)
    _use_own_database()
    setup_django(database_suffix="")
    from django.conf import settings

    _reset()
    cookie = _session_cookie()
    host = f"{settings.BASE_DOMAIN}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings_console", "LOG_LEVEL": "WARNING"}
    results: dict[int, dict[str, dict[str, Any]]] = {}
    for count in SCALES:
        started = time.perf_counter()
        _grow_to(count)
        print(
            f"{count:,} organizations' public rows ready in {time.perf_counter() - started:.1f} s", flush=True
        )
        port = free_port()
        log = (ROOT / ".data" / "bench-console-server.log").open(
            "ab"
        )  # the access log, kept out of the figures
        server = start_uvicorn(env, port, stderr=log)
        try:
            results[count] = _measure(port, host, cookie, count)
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    _report(results)


def _report(results: dict[int, dict[str, dict[str, Any]]]) -> None:
    base, top = min(results), max(results)
    load = os.getloadavg()
    print(f"\nOperator console through uvicorn, {ROUNDS} requests per page, one at a time")
    print(f"  (machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})")
    print(
        f"  target: p95 < {TARGET_P95_MS:.0f} ms at {top:,} organizations, queries equal to those at {base:,}"
    )
    failed = False
    for name in results[top]:
        for count in sorted(results):
            row = results[count][name]
            ratio = row["p50"] / results[base][name]["p50"]
            print(
                f"  {name:<20} {count:>6,} orgs  p50={row['p50'] * 1000:7.1f} ms"
                f"  p95={row['p95'] * 1000:7.1f} ms"
                f"  queries={','.join(map(str, row['queries'])):<5} {row['kb']:6.1f} KB"
                + (f"  p50 ratio to {base:,}: {ratio:.2f}x" if count != base else "  (baseline)")
            )
        constant = results[top][name]["queries"] == results[base][name]["queries"]
        fast = results[top][name]["p95"] * 1000 < TARGET_P95_MS
        failed |= not (constant and fast)
        print(
            f"  {'':<20} queries constant: {'yes' if constant else 'NO'};"
            f" p95 target: {'met' if fast else 'MISSED'}"
        )
    print("  verdict:", "targets met" if not failed else "a target was missed")
