"""Many organizations in one database: migrating them, catalog growth and request latency.

Creates BENCH_ORGS organizations (default 200) by cloning the template, then times
  (a) plain sequential `migrate_schemas` with nothing to apply vs `migrate_organizations` (one query finds
      the organizations behind, nothing else starts);
  (b) one migration applied to every organization: the row of a leaf migration whose re-application emits
      no SQL (accounts.0003, an AlterField) is deleted in every schema, then re-applied by each method;
and prints the catalog growth per organization and the p50 of authenticated API requests with few vs N
organizations. Figures for 1,000 and 5,000 organizations are extrapolated from the per-organization costs
measured here. The organizations are deleted and purged at the end unless BENCH_KEEP=1.
"""

from __future__ import annotations

import logging
import os
import statistics
import time

from bench.common import setup_django

N = int(os.environ.get("BENCH_ORGS", "200"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
KEEP = os.environ.get("BENCH_KEEP") == "1"
SLUG_RE = r"^bmig[0-9]+$"
APP, NAME = "accounts", "0003_alter_account_merged_into"


def main() -> None:
    # A database of its own: other benches share <db>_bench and migrate or clone its template meanwhile.
    setup_django("_bench_orgs")
    logging.disable(logging.INFO)  # one access line per timed request would drown the figures
    from django.core.management import call_command
    from django.test import override_settings
    from django_tenants.utils import schema_context
    from rest_framework.test import APIClient

    from shared_apps.core.db import connection
    from shared_apps.organizations.migrating import (
        migrate_organizations,
        organization_schemas,
        schemas_behind,
    )
    from shared_apps.organizations.models import Organization, OrganizationStatus
    from shared_apps.organizations.services import (
        organization_delete,
        organization_provision,
        organization_purge,
    )
    from shared_apps.users.services import token_issue

    password = "bench-password-2026"

    def catalog_bytes() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'pg_catalog' AND c.relkind = 'r'"
            )
            return int(cursor.fetchone()[0])

    def cleanup() -> None:
        connection.set_schema_to_public()
        for organization in Organization.objects.filter(slug__regex=SLUG_RE):
            if organization.status != OrganizationStatus.DELETED:
                organization = organization_delete(organization=organization)
            organization_purge(organization=organization, confirm=organization.slug)

    def provision(slug: str) -> float:
        connection.set_schema_to_public()
        started = time.perf_counter()
        # MD5 for the bench only: the production hasher would dominate the provisioning time measured here.
        with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
            organization_provision(
                name=slug, slug=slug, admin_email=f"admin@{slug}.example", admin_password=password
            )
        return time.perf_counter() - started

    def latency(slug: str, rounds: int = 40) -> dict[str, float]:
        connection.set_schema_to_public()
        with (
            schema_context(f"org_{slug}"),
            override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
        ):
            raw, _ = token_issue(email=f"admin@{slug}.example", password=password)
        client = APIClient(HTTP_HOST=f"{slug}.localhost")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        result = {}
        for path in ("/api/me/", "/api/leads/", "/api/accounts/"):
            samples = []
            for _ in range(rounds):
                started = time.perf_counter()
                response = client.get(path)
                samples.append(time.perf_counter() - started)
                assert response.status_code == 200, (path, response.status_code)
            result[path] = statistics.median(samples[5:]) * 1000
        connection.set_schema_to_public()
        return result

    def forget_everywhere(schemas: list[str]) -> None:
        with connection.cursor() as cursor:
            for schema in schemas:
                cursor.execute(
                    f'DELETE FROM "{schema}".django_migrations WHERE app = %s AND name = %s', [APP, NAME]
                )

    def timed(fn: object) -> float:
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        connection.set_schema_to_public()
        return time.perf_counter() - started

    cleanup()
    try:
        catalog_before = catalog_bytes()
        provision_first = [provision("bmig0")]
        few = latency("bmig0")
        provision_all = list(provision_first)
        started = time.perf_counter()
        for i in range(1, N):
            provision_all.append(provision(f"bmig{i}"))
        create_seconds = time.perf_counter() - started + provision_first[0]
        catalog_after = catalog_bytes()
        many = latency("bmig0")

        tenants = len(organization_schemas()) + 1  # + the template, which migrate_schemas also visits
        bench_schemas = list(
            Organization.objects.filter(slug__regex=SLUG_RE).values_list("schema_name", flat=True)
        )

        def sequential() -> None:
            call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)

        def ours() -> None:
            report = migrate_organizations(workers=WORKERS)
            assert not report.failed, report.failed

        idle_sequential = timed(sequential)
        idle_ours = timed(ours)
        forget_everywhere(bench_schemas)
        apply_sequential = timed(sequential)
        forget_everywhere(bench_schemas)
        query_started = time.perf_counter()  # the query alone, at this N
        behind, _ = schemas_behind(organization_schemas())
        query_seconds = time.perf_counter() - query_started
        assert len(behind) == len(bench_schemas), (len(behind), len(bench_schemas))
        apply_ours = timed(ours)
    finally:
        if not KEEP:
            cleanup_started = time.perf_counter()
            cleanup()
            print(f"\n(cleaned up the bench organizations in {time.perf_counter() - cleanup_started:.1f} s)")

    per_org_catalog = (catalog_after - catalog_before) / N
    print(
        f"\nMany organizations: {N} created by cloning "
        f"({tenants} tenant schemas in the database, {WORKERS} workers)"
    )
    print(
        f"  provisioning: {create_seconds:.1f} s total; p50 first 10% "
        f"{statistics.median(provision_all[: max(1, N // 10)]) * 1000:.0f} ms, "
        f"last 10% {statistics.median(provision_all[-max(1, N // 10) :]) * 1000:.0f} ms"
    )
    print(
        f"  catalog: {catalog_before / 1e6:.1f} MB -> {catalog_after / 1e6:.1f} MB, "
        f"{per_org_catalog / 1e3:.0f} KB per organization"
    )
    for path in few:
        print(f"  p50 {path:<16} 1 bench org: {few[path]:6.2f} ms   {N} orgs: {many[path]:6.2f} ms")
    rows = [
        ("nothing to apply: migrate_schemas (baseline)", idle_sequential, tenants),
        ("nothing to apply: migrate_organizations", idle_ours, tenants),
        ("one migration to all: migrate_schemas (baseline)", apply_sequential, tenants),
        ("one migration to all: migrate_organizations", apply_ours, tenants),
    ]
    for label, seconds, count in rows:
        print(f"  {label:<52} {seconds:8.2f} s  {seconds / count * 1000:7.1f} ms/org")
    print(f"  ratio nothing to apply: {idle_sequential / idle_ours:.1f}x faster")
    print(f"  ratio one migration to all: {apply_sequential / apply_ours:.2f}x faster")
    print(
        f"  the one query finding the {len(bench_schemas)} organizations behind: "
        f"{query_seconds * 1000:.0f} ms"
    )

    print("\n  EXTRAPOLATION (linear in organizations from the per-organization costs above, not measured):")
    for target in (1000, 5000):
        scale = target / tenants
        print(
            f"    {target:>5} orgs: nothing to apply {idle_sequential * scale:7.0f} s sequential vs "
            f"~{idle_ours - query_seconds + query_seconds * scale:5.1f} s ours (target < 60 s); "
            f"one migration {apply_sequential * scale:7.0f} s vs {apply_ours * scale:6.0f} s "
            "(target < 300 s); "
            f"catalog +{per_org_catalog * target / 1e9:.2f} GB"
        )
