"""Organizations on two databases: what placement costs per request, and how long a move freezes writes.

Two databases on the same server: the primary (<db>_bench_placement) and `east` (<db>_bench_placement_east,
added through DATABASES_EXTRA). Measured, in one run:
  (a) the p50 of an authenticated `GET /api/leads/` (in-process, Django's test client) for an organization
      on the primary vs one on `east`, requests alternating between the two (every request switches the
      thread's connection): the ratio is what placement adds;
  (b) `org_move` of a small organization (a demo-sized one: BENCH_SMALL_LEADS leads) and of a generated
      one (BENCH_LEADS leads, BENCH_ACTIVITIES activities; default 20,000 / 100,000) to `east` and back,
      BENCH_MOVES times each: the write freeze (from setting the flag to the switch) and the copy inside it,
      beside a plain pg_dump of the same schema (the floor of any copy through pg_dump).
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from urllib.parse import urlsplit, urlunsplit

from bench.common import report, setup_django

MOVES = int(os.environ.get("BENCH_MOVES", "3"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))
SMALL_LEADS = int(os.environ.get("BENCH_SMALL_LEADS", "300"))
LEADS = int(os.environ.get("BENCH_LEADS", "20000"))
ACTIVITIES = int(os.environ.get("BENCH_ACTIVITIES", "100000"))
SUFFIX = "_bench_placement"


def _east_url() -> str:
    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path=url.path.rstrip("/") + SUFFIX + "_east"))


def main() -> None:
    from config.devenv import ensure_database

    east = _east_url()
    # before anything imports the settings module (ensure_database does): DATABASES is read once
    os.environ["DATABASES_EXTRA"] = f"east={east}"
    ensure_database(east)
    setup_django(SUFFIX)
    logging.disable(logging.INFO)
    from django.conf import settings
    from django.test import Client

    from bench.generate import PASSWORD, ensure_generated
    from shared_apps.core.db import connection
    from shared_apps.organizations import placement
    from shared_apps.organizations.backup import schema_dump
    from shared_apps.organizations.models import Organization
    from shared_apps.organizations.moving import organization_move
    from shared_apps.organizations.services import organization_provision
    from shared_apps.users.services import token_issue
    from tenant_apps.leads.models import Lead

    def organization(slug: str, database: str) -> Organization:
        found = Organization.objects.filter(slug=slug).first()
        if found is None:
            found = organization_provision(
                name=slug, slug=slug, admin_email=f"admin@{slug}.example", admin_password=PASSWORD
            )
            with placement.using(found.database):
                connection.set_tenant(found)
                Lead.objects.bulk_create(
                    Lead(name=f"Lead {n}", email=f"lead{n}@{slug}.example") for n in range(SMALL_LEADS)
                )
                connection.set_schema_to_public()
        if found.database != database:
            organization_move(organization=found, to=database)
            found.refresh_from_db()
        return found

    def client(org: Organization) -> Client:
        with placement.using(org.database):
            connection.set_tenant(org)
            raw, _ = token_issue(email=f"admin@{org.slug}.example", password=PASSWORD)
            connection.set_schema_to_public()
        return Client(HTTP_HOST=f"{org.slug}.{settings.BASE_DOMAIN}", HTTP_AUTHORIZATION=f"Bearer {raw}")

    home = organization("placehome", "default")
    away = organization("placeaway", "east")
    clients = {"primary": client(home), "east": client(away)}
    samples: dict[str, list[float]] = {"primary": [], "east": []}
    for _ in range(20):  # warm both paths
        for c in clients.values():
            assert c.get("/api/leads/?page_size=50").status_code == 200
    for n in range(REQUESTS):
        for name in ("primary", "east") if n % 2 else ("east", "primary"):
            started = time.perf_counter()
            response = clients[name].get("/api/leads/?page_size=50")
            samples[name].append(time.perf_counter() - started)
            assert response.status_code == 200
    report(
        f"(a) GET /api/leads/ (50 a page, {SMALL_LEADS} leads), alternating between an organization on the "
        "primary and one on `east`",
        samples,
        baseline="primary",
    )

    big = ensure_generated(leads=LEADS, activities=ACTIVITIES)
    big.refresh_from_db()
    small = Organization.objects.get(slug="placehome")
    for org, label in (
        (small, f"{SMALL_LEADS} leads"),
        (big, f"{LEADS:,} leads / {ACTIVITIES:,} activities"),
    ):
        frozen: list[float] = []
        copies: list[float] = []
        dumps: list[float] = []
        rows = 0
        for _ in range(MOVES):
            for target in ("east", "default"):
                org.refresh_from_db()
                with placement.using(org.database):
                    started = time.perf_counter()
                    schema_dump(org.schema_name)
                    dumps.append(time.perf_counter() - started)
                result = organization_move(organization=org, to=target)
                frozen.append(result.frozen_seconds)
                copies.append(result.copy_seconds)
                rows = result.rows
        report(
            f"(b) org_move of {label} ({rows:,} rows in all tables), {MOVES} round trips",
            {"plain pg_dump of the schema": dumps, "copy (dump + replay + verify)": copies,
             "writes frozen": frozen},
            unit="s",
            scale=1.0,
            baseline="plain pg_dump of the schema",
        )  # fmt: skip
        print(f"  writes frozen p50: {statistics.median(frozen):.2f} s for {rows:,} rows")
