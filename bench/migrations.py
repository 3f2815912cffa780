"""Many organizations in one database, grown step by step: provisioning, catalog, request latency, migrating.

The organizations (bmig0, bmig1, ...) live in a database of their own, `<db>_bench_orgs`, and are kept
between runs: each step of BENCH_STEPS (default "100,1000,5000") creates the ones missing up to that count,
so a later run continues where an earlier one stopped (BENCH_KEEP=0 purges them at the end). At each step:

  provisioning   p50 of the clones made in that step (the last BENCH_PROBES if many; BENCH_PROBES extra
                 clones, purged again, when the step already existed), MD5 password hasher
  catalog        size of pg_catalog's tables and of the whole database
  latency        p50 of an authenticated GET /api/leads/ (and /api/me/) on one organization, and on
                 BENCH_ROTATE organizations taken in turn (each request another organization)
  nothing to apply   `migrate_organizations` over all (measured, median of 3) vs plain sequential
                 `migrate_schemas` run per schema over a sample of BENCH_SAMPLE (default 100) organizations,
                 EXTRAPOLATED linearly to all of them (marked "~" in the table)
  one migration  the row of a leaf migration whose re-application changes nothing (search.0003, a CREATE
                 OR REPLACE of a trigger function) is deleted in every bench organization and re-applied:
                 `migrate_organizations` over all (measured) vs sequential `migrate_schemas` over the
                 sample, extrapolated the same way

BENCH_WORKERS (default 2) workers for `migrate_organizations`. BENCH_DEADLINE_MINUTES (default 0: none)
stops before a step that would start after that many minutes; the table shows how far it got.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from typing import Any

from bench.common import setup_django

STEPS = [int(s) for s in os.environ.get("BENCH_STEPS", "100,1000,5000").split(",") if s.strip()]
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
SAMPLE = int(os.environ.get("BENCH_SAMPLE", "100"))
PROBES = int(os.environ.get("BENCH_PROBES", "20"))
ROTATE = int(os.environ.get("BENCH_ROTATE", "50"))
KEEP = os.environ.get("BENCH_KEEP", "1") != "0"
DEADLINE = float(os.environ.get("BENCH_DEADLINE_MINUTES", "0")) * 60
SLUG_RE = r"^bmig[0-9]+$"
PROBE_RE = r"^bprobe[0-9]+$"
APP, NAME = "search", "0003_search_words_deferrable"
PASSWORD = "bench-password-2026"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main() -> None:
    started = time.monotonic()
    # A database of its own: other benches share <db>_bench and migrate or clone its template meanwhile.
    setup_django("_bench_orgs")
    logging.disable(logging.INFO)  # one access line per timed request would drown the figures
    from django.core.management import call_command
    from django.test import override_settings
    from django_tenants.utils import schema_context
    from rest_framework.test import APIClient

    from shared_apps.core.db import connection
    from shared_apps.organizations.migrating import migrate_organizations, organization_schemas
    from shared_apps.organizations.models import Organization, OrganizationStatus
    from shared_apps.organizations.services import (
        organization_delete,
        organization_provision,
        organization_purge,
    )
    from shared_apps.users.services import token_issue

    md5 = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])

    def sizes() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'pg_catalog' AND c.relkind = 'r'"
            )
            catalog = int(cursor.fetchone()[0])
            cursor.execute("SELECT pg_database_size(current_database())")
            return catalog, int(cursor.fetchone()[0])

    def purge(regex: str) -> None:
        connection.set_schema_to_public()
        for organization in Organization.objects.filter(slug__regex=regex):
            if organization.status != OrganizationStatus.DELETED:
                organization = organization_delete(organization=organization)
            organization_purge(organization=organization, confirm=organization.slug)

    def provision(slug: str) -> float:
        connection.set_schema_to_public()
        begin = time.perf_counter()
        # MD5 for the bench only: the production hasher would dominate the provisioning time measured here.
        with md5:
            organization_provision(
                name=slug, slug=slug, admin_email=f"admin@{slug}.example", admin_password=PASSWORD
            )
        return time.perf_counter() - begin

    def bench_schemas() -> list[str]:
        connection.set_schema_to_public()
        return list(
            Organization.objects.filter(slug__regex=SLUG_RE)
            .order_by("id")
            .values_list("schema_name", flat=True)
        )

    def client_for(slug: str) -> APIClient:
        connection.set_schema_to_public()
        with schema_context(f"org_{slug}"), md5:
            raw, _ = token_issue(email=f"admin@{slug}.example", password=PASSWORD)
        client = APIClient(HTTP_HOST=f"{slug}.localhost")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    def get_ms(client: APIClient, path: str) -> float:
        begin = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - begin
        assert response.status_code == 200, (path, response.status_code)
        return elapsed * 1000

    def latency(count: int) -> dict[str, float]:
        one = client_for("bmig0")
        result = {}
        for path in ("/api/me/", "/api/leads/"):
            samples = [get_ms(one, path) for _ in range(45)][5:]
            result[f"one {path}"] = statistics.median(samples)
        # Organizations in turn: what a web worker serving many organizations sees (catalog cache misses).
        step = max(1, count // ROTATE)
        clients = [client_for(f"bmig{i}") for i in range(0, count, step)][:ROTATE]
        samples = [get_ms(client, "/api/leads/") for _ in range(2) for client in clients]
        result["rotating /api/leads/"] = statistics.median(samples)
        connection.set_schema_to_public()
        return result

    def forget(schemas: list[str]) -> None:
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            for schema in schemas:
                cursor.execute(
                    f'DELETE FROM "{schema}".django_migrations WHERE app = %s AND name = %s', [APP, NAME]
                )

    def ours() -> float:
        begin = time.perf_counter()
        report = migrate_organizations(workers=WORKERS)
        seconds = time.perf_counter() - begin
        assert not report.failed, report.failed
        connection.set_schema_to_public()
        return seconds

    def sequential(schemas: list[str]) -> float:
        """Plain `migrate_schemas`, one run per schema, as `migrate_schemas` without --schema does."""
        begin = time.perf_counter()
        for schema in schemas:
            call_command("migrate_schemas", tenant=True, schema_name=schema, interactive=False, verbosity=0)
        connection.set_schema_to_public()
        return time.perf_counter() - begin

    purge(PROBE_RE)  # left by an interrupted run
    ours()  # bring every organization level after an interrupted run
    results: list[dict[str, Any]] = []
    try:
        for target in STEPS:
            if DEADLINE and time.monotonic() - started > DEADLINE:
                log(f"deadline reached: step {target} not started")
                break
            existing = len(bench_schemas())
            if existing > target:
                log(f"step {target} skipped: {existing} bench organizations exist already (they are kept)")
                continue
            log(f"step {target}: {existing} bench organizations exist, creating {max(0, target - existing)}")
            clones = []
            for i in range(existing, target):
                clones.append(provision(f"bmig{i}"))
                if len(clones) % 100 == 0:
                    log(f"  {i + 1} created, last 100 p50 {statistics.median(clones[-100:]) * 1000:.0f} ms")
            if len(clones) < PROBES:
                clones += [provision(f"bprobe{i}") for i in range(PROBES)]
                purge(PROBE_RE)
            row: dict[str, Any] = {"orgs": target, "clone_p50": statistics.median(clones[-PROBES:])}
            row["catalog"], row["database"] = sizes()
            row.update(latency(target))
            log(f"  provisioned; catalog {row['catalog'] / 1e6:.0f} MB; latency {row}")

            schemas = bench_schemas()
            tenants = len(organization_schemas()) + 1  # + the template, which migrate_schemas also visits
            row["tenants"] = tenants
            sample = schemas[:SAMPLE]
            row["idle_ours"] = statistics.median([ours() for _ in range(3)])
            row["idle_seq_sample"] = sequential(sample)
            row["idle_seq"] = row["idle_seq_sample"] / len(sample) * tenants
            log(f"  nothing to apply: ours {row['idle_ours']:.2f} s, sequential ~{row['idle_seq']:.0f} s")
            forget(schemas)
            row["apply_ours"] = ours()
            forget(sample)
            row["apply_seq_sample"] = sequential(sample)
            row["apply_seq"] = row["apply_seq_sample"] / len(sample) * tenants
            row["sample"] = len(sample)
            log(f"  one migration: ours {row['apply_ours']:.1f} s, sequential ~{row['apply_seq']:.0f} s")
            results.append(row)
    finally:
        if not KEEP:
            begin = time.perf_counter()
            purge(SLUG_RE)
            log(f"cleaned up the bench organizations in {time.perf_counter() - begin:.1f} s")
        print_table(results)


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"\nMany organizations in one database ({WORKERS} workers for migrate_organizations). "
        "'~' = extrapolated linearly from a sample of organizations run sequentially; "
        "everything else measured."
    )
    header = (
        f"{'orgs':>6} {'clone p50':>10} {'catalog':>9} {'database':>9} {'/api/me':>8} {'/api/leads':>10} "
        f"{'rotating':>9} | {'nothing to apply: ours':>22} {'sequential':>11} | "
        f"{'one migration: ours':>19} {'sequential':>11}"
    )
    print(header)
    for r in results:
        print(
            f"{r['orgs']:>6} {r['clone_p50'] * 1000:>8.0f}ms {r['catalog'] / 1e6:>7.0f}MB "
            f"{r['database'] / 1e6:>7.0f}MB {r['one /api/me/']:>6.1f}ms {r['one /api/leads/']:>8.1f}ms "
            f"{r['rotating /api/leads/']:>7.1f}ms | {r['idle_ours']:>21.2f}s "
            f"{'~' + format(r['idle_seq'], '.0f'):>10}s | "
            f"{r['apply_ours']:>18.1f}s {'~' + format(r['apply_seq'], '.0f'):>10}s"
        )
    for r in results:
        print(
            f"  {r['orgs']} orgs: sequential sample of {r['sample']} took {r['idle_seq_sample']:.1f} s "
            f"(nothing to apply) and {r['apply_seq_sample']:.1f} s (one migration), "
            f"x {r['tenants']}/{r['sample']} "
            f"tenant schemas; ratio nothing to apply {r['idle_seq'] / r['idle_ours']:.0f}x, one migration "
            f"{r['apply_seq'] / r['apply_ours']:.1f}x; targets at 1,000: < 60 s and < 300 s"
        )
