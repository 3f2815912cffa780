"""CSV import and export at scale, beside a raw COPY of the same file in the same run.

A fresh `importbench` organization (purged and provisioned again each run, so every run starts alike) gets
BENCH_EXISTING leads (default 1% of the file's rows), then a generated CSV file of BENCH_IMPORT_ROWS leads
(default 1,000,000): name, email, phone, company, source, stage, value, currency, tags, with 1% invalid rows
(bad email, unknown stage, value not a number, missing name), 0.5% repeating an earlier row's email and as
many matching the existing leads. Timed:

- raw COPY: the file into a plain table of text columns (no parsing beyond CSV, no checks, no indexes);
- the import end to end, in-process as the API and the worker run it: import_create (the upload read and
  stored), then import_run (parse + COPY into staging, set-based validation and dedupe, then the leads,
  their CREATED activities and the change log written in batches with a checkpoint), with its phases;
  the final counts are checked against what the generator put in the file;
- bulk mode (tenant_apps.imports.pipeline.bulk): the file is large for the fresh organization, so the costly
  lead indexes are dropped and built concurrently at the end (both timed as phases), the batches are written
  on IMPORT_WRITERS connections at once (committed in file order); BENCH_IMPORTS_BULK=0
  runs the row-by-row path instead (the code before bulk mode) for a same-hour comparison;
- meanwhile a prober on a connection of its own does what requests do on the organization every 0.2 s (the
  lead list's first page, a lead insert rolled back, a full-text search): the slowest of each and errors;
- the small-import path: BENCH_SMALL_ROWS (default 10,000) more rows into the organization now holding the
  first file's leads (row by row, every index live);
- the export of the same leads through GET /api/exports/leads.csv (Django's test client, the whole
  middleware stack, a streaming response read chunk by chunk) with the process's RSS sampled per chunk,
  beside an export of about a seventh of them: flat memory means the same peak for both.

Runs on `<db>_bench_imports` (BENCH_IMPORTS_DB_SUFFIX) and Redis database BENCH_IMPORTS_REDIS_DB (default 7).
"""

from __future__ import annotations

import csv
import os
import random
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import bench_redis, setup_django

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
EXISTING = int(os.environ.get("BENCH_EXISTING", str(max(1, ROWS // 100))))
SLUG = "importbench"
PASSWORD = "bench-password-2026"
MEMBER_EMAIL = f"bench@{SLUG}.example"
TARGET_ROWS_PER_S = 50_000
EXPORT_TARGET_ROWS_PER_S = 200_000
FLOOR_ROWS = int(os.environ.get("BENCH_FLOOR_ROWS", "200000"))
DB_SUFFIX = os.environ.get("BENCH_IMPORTS_DB_SUFFIX", "_bench_imports")  # a database of its own
PLAN = "parse, COPY into staging, validate + dedupe (plan)"
WRITE = "write leads + activities in batches (+ index drop/build)"
DROPPED = "  of which: indexes dropped"
BUILT = "  of which: indexes built (concurrently, one after the other)"
BULK = os.environ.get("BENCH_IMPORTS_BULK", "1") != "0"
SMALL_ROWS = int(os.environ.get("BENCH_SMALL_ROWS", "10000"))

FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kai", "Lena"]
LAST = ["Silva", "Meyer", "Novak", "O'Brien", "Rossi", "Sato", "Dubois", "García", "Kowalski", "Nguyen"]
WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell", "Soylent"]
SUFFIXES = ["Inc", "LLC", "GmbH", "Ltd", "", "Corp"]
SOURCES = ["web", "referral", "Ads", "event", "outbound", "other"]
STAGES = ["NEW", "new", "CONTACTED", "QUALIFIED", "PROPOSAL", "NEGOTIATION", "WON", "LOST"]
HEADER = ["name", "email", "phone", "company", "source", "stage", "value", "currency", "tags"]


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _email(index: int) -> str:
    return f"lead{index}.{FIRST[index % len(FIRST)].lower()}@example{index % 97}.com"


def generate(path: Path, rng: random.Random, rows: int = ROWS, start: int = 0) -> dict[str, int]:
    """Write the file; returns what it holds: invalid rows, repeats within the file, rows matching the
    existing leads (whose emails are lead<-1..-EXISTING>)."""
    expected = {"invalid": 0, "in_file": 0, "existing": 0}
    written: list[int] = []  # rows imported with their own email
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for index in range(start, start + rows):
            roll = rng.random()
            company = f"{WORDS[index % 10]} {WORDS[(index // 10) % 10]} {index % 5003} {SUFFIXES[index % 6]}"
            row = [
                f"{FIRST[index % 12]} {LAST[(index // 12) % 10]} {index}",
                _email(index),
                f"+1 (555) {index % 10_000_000:07d}",
                company.strip(),
                SOURCES[index % 6],
                STAGES[index % 8],
                f"{rng.randrange(0, 100_000)}.{rng.randrange(0, 100):02d}",
                "USD" if index % 3 else "eur",
                "imported;q4" if index % 2 else "",
            ]
            if roll < 0.0025:
                row[1] = "not-an-email"
            elif roll < 0.005:
                row[5] = "MAYBE"
            elif roll < 0.0075:
                row[6] = "12,5k"
            elif roll < 0.01:
                row[0] = ""
            elif roll < 0.015 and written:
                row[1] = _email(written[rng.randrange(0, len(written))])  # an earlier (valid) row's email
                expected["in_file"] += 1
            elif roll < 0.015 + EXISTING / rows / 2 and expected["existing"] < EXISTING and not start:
                expected["existing"] += 1
                row[1] = _email(-expected["existing"])  # an existing lead's email
            else:
                written.append(index)
            if roll < 0.01:
                expected["invalid"] += 1
            writer.writerow(row)
    return expected


def _organization() -> Any:
    from shared_apps.organizations.models import Organization, OrganizationStatus
    from shared_apps.organizations.services import (
        organization_delete,
        organization_provision,
        organization_purge,
    )

    for old in Organization.objects.filter(slug=SLUG):
        if old.status != OrganizationStatus.DELETED:
            old = organization_delete(organization=old)
        organization_purge(organization=old, confirm=SLUG)
    return organization_provision(
        name="Import bench", slug=SLUG, admin_email=MEMBER_EMAIL, admin_password=PASSWORD
    )


def _seed_existing(schema: str) -> None:
    """EXISTING leads whose emails are the generator's _email(-1), _email(-2), ..."""
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from tenant_apps.leads.models import Lead

    now = timezone.now()
    with schema_context(schema):
        Lead.objects.bulk_create(
            [
                Lead(name=f"Existing {g}", email=_email(-g), stage_changed_at=now, created_at=now)
                for g in range(1, EXISTING + 1)
            ],
            batch_size=2000,
        )


def raw_copy(path: Path) -> float:
    """The baseline: the same file into a plain table of text columns."""
    from django.db import connection

    columns = ", ".join(f"{name} text" for name in HEADER)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS public.bench_raw_copy")
        cursor.execute(f"CREATE TABLE public.bench_raw_copy ({columns})")
        start = time.perf_counter()
        with (
            open(path, "rb") as handle,
            cursor.copy("COPY public.bench_raw_copy FROM STDIN (FORMAT csv, HEADER)") as copy,
        ):
            while data := handle.read(1 << 20):
                copy.write(data)
        elapsed = time.perf_counter() - start
        cursor.execute("SELECT count(*) FROM public.bench_raw_copy")
        assert cursor.fetchone()[0] == ROWS
        cursor.execute("DROP TABLE public.bench_raw_copy")
    return elapsed


def floor(schema: str, rows: int) -> float:
    """Seconds to write `rows` of the imported leads again, with their CREATED activities, by plain
    INSERT ... SELECT into copies of the two tables (same indexes, same generated search column): what the
    target tables alone cost, whoever writes them."""
    from django.db import connection

    lead_columns = (
        "name, email, phone, phone_normalized, company, identity_key, source, stage, value, currency, "
        "owner_id, tags, score, stage_changed_at, created_at, updated_at"
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA IF EXISTS bench_import_floor CASCADE")
        cursor.execute("CREATE SCHEMA bench_import_floor")
        for table in ("leads_lead", "activities_activity"):
            cursor.execute(f'CREATE TABLE bench_import_floor.{table} (LIKE "{schema}".{table} INCLUDING ALL)')
        cursor.execute(f'SET search_path = bench_import_floor, "{schema}", public')
        start = time.perf_counter()
        cursor.execute(
            f"INSERT INTO bench_import_floor.leads_lead ({lead_columns}) "
            f'SELECT {lead_columns} FROM "{schema}".leads_lead ORDER BY id LIMIT %s',
            [rows],
        )
        cursor.execute(
            "INSERT INTO bench_import_floor.activities_activity (lead_id, type, subject, body, metadata, "
            "actor_id, occurred_at, created_at, message_id, thread_id) SELECT id, 'CREATED', "
            "'Lead created: ' || name, '', jsonb_build_object('source', source, 'owner_id', owner_id, "
            "'stage', stage, 'import_id', 1, 'via', 'import'), NULL, now(), now(), '', '' "
            "FROM bench_import_floor.leads_lead"
        )
        elapsed = time.perf_counter() - start
        cursor.execute("SET search_path = public")
        cursor.execute("DROP SCHEMA bench_import_floor CASCADE")
    return elapsed


def run_import(path: Path, schema: str) -> tuple[Any, dict[str, float]]:
    from django_tenants.utils import schema_context

    from shared_apps.users.models import User
    from tenant_apps.imports import pipeline, services
    from tenant_apps.imports.pipeline import bulk

    phases: dict[str, float] = {}
    original_build = pipeline.Pipeline.build

    def timed_build(self: Any, *, rebuild: bool) -> int:
        start = time.perf_counter()
        rows = original_build(self, rebuild=rebuild)
        phases[PLAN] = time.perf_counter() - start
        return rows

    pipeline.Pipeline.build = timed_build  # type: ignore[method-assign]
    originals = {name: getattr(bulk, name) for name in ("indexes_defer", "indexes_build")}
    labels = {
        "indexes_defer": DROPPED,
        "indexes_build": BUILT,
    }

    def timed(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            begin = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                phases[labels[name]] = phases.get(labels[name], 0.0) + time.perf_counter() - begin

        return call

    for name in originals:
        setattr(bulk, name, timed(name))
    try:
        with schema_context(schema):
            actor = User.objects.get(email=MEMBER_EMAIL)
            start = time.perf_counter()
            with open(path, "rb") as handle:
                run = services.import_create(
                    actor=actor, file=handle, record_type="lead", file_name=path.name
                )
            phases["upload stored (import_create)"] = time.perf_counter() - start
            begin = time.perf_counter()
            run = services.import_run(import_id=run.pk)
            total = time.perf_counter() - begin
            phases[WRITE] = total - phases[PLAN]
            phases["end to end"] = time.perf_counter() - start
    finally:
        pipeline.Pipeline.build = original_build  # type: ignore[method-assign]
        for name, function in originals.items():
            setattr(bulk, name, function)
    return run, phases


class Prober(threading.Thread):
    """What requests do on the organization while the import runs, on a connection of its own, every 0.2 s:
    the lead list's first page, a lead insert (rolled back) and a full-text search; the slowest of each."""

    def __init__(self, schema: str) -> None:
        super().__init__(daemon=True)
        self.schema = schema
        self.stop = threading.Event()
        self.slowest: dict[str, float] = {"list": 0.0, "insert": 0.0, "search": 0.0}
        self.rounds = 0
        self.errors: list[str] = []

    def run(self) -> None:
        from django.db import connections

        connection = connections.create_connection("default")
        try:
            connection.set_schema(self.schema)
            columns = (
                "name, email, phone, phone_normalized, company, identity_key, source, stage, value, "
                "currency, tags, score, stage_changed_at, created_at, updated_at"
            )
            statements = {
                "list": "SELECT id FROM leads_lead WHERE deleted_at IS NULL "
                "ORDER BY created_at DESC, id DESC LIMIT 50",
                "insert": f"INSERT INTO leads_lead ({columns}) VALUES ('Probe Lead', 'probe@example.com', "
                "'', '', 'Probe', '', '', 'NEW', 0, 'USD', '{}', 0, now(), now(), now())",
                "search": "SELECT id FROM leads_lead WHERE search_vector @@ to_tsquery('simple', 'probe') "
                "LIMIT 20",
            }
            while not self.stop.wait(0.2):
                for name, sql in statements.items():
                    start = time.perf_counter()
                    try:
                        with connection.cursor() as cursor:
                            if name == "insert":
                                cursor.execute("BEGIN")
                            cursor.execute(sql)
                            if name == "insert":
                                cursor.execute("ROLLBACK")
                    except Exception as error:  # a request that would have failed
                        self.errors.append(f"{name}: {error}")
                        connection.rollback()
                    self.slowest[name] = max(self.slowest[name], time.perf_counter() - start)
                self.rounds += 1
        finally:
            connection.close()


def export(host: str, token: str, query: str) -> tuple[int, float, float, float]:
    """(rows, seconds, RSS at start, peak RSS sampled per chunk) of a streamed export."""
    from django.test import Client

    client = Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {token}")
    before = peak = _rss_mb()
    start = time.perf_counter()
    response = client.get(f"/api/exports/leads.csv{query}")
    assert response.status_code == 200, response
    lines = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")  # no cell of this file holds a line break
        peak = max(peak, _rss_mb())
    response.close()
    elapsed = time.perf_counter() - start
    return lines - 1, elapsed, before, peak


def main() -> None:
    bench_redis("BENCH_IMPORTS_REDIS_DB", 7)  # events the import publishes go to a Redis db of its own
    setup_django(DB_SUFFIX)
    from django.conf import settings
    from django_tenants.utils import schema_context

    from shared_apps.users.services import token_issue
    from tenant_apps.activities.models import Activity
    from tenant_apps.imports.models import ImportRowError
    from tenant_apps.imports.pipeline import bulk
    from tenant_apps.leads.models import Lead

    print(
        f"\nimports: {ROWS:,} rows (BENCH_IMPORT_ROWS), {EXISTING:,} existing leads (BENCH_EXISTING); "
        f"gin_pending_list_limit in the write batches: "
        f"{settings.IMPORT_GIN_PENDING_LIST_KB or 'server default'} (IMPORT_GIN_PENDING_LIST_KB, kB); "
        f"bulk mode {'on' if BULK else 'OFF (BENCH_IMPORTS_BULK=0)'} (IMPORT_BULK_MIN_ROWS "
        f"{settings.IMPORT_BULK_MIN_ROWS:,}, maintenance_work_mem for the builds "
        f"{settings.IMPORT_INDEX_BUILD_MEMORY or 'server default'}, batches written on "
        f"{settings.IMPORT_WRITERS} connection(s) at once: IMPORT_WRITERS); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    organization = _organization()
    schema = organization.schema_name
    _seed_existing(schema)
    settings.IMPORT_MAX_ROWS = max(settings.IMPORT_MAX_ROWS, ROWS)
    settings.IMPORT_MAX_BYTES = max(settings.IMPORT_MAX_BYTES, ROWS * 400)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "leads.csv"
        start = time.perf_counter()
        expected = generate(path, random.Random(7))
        size = path.stat().st_size
        print(f"  file: {size / 2**20:.1f} MiB generated in {time.perf_counter() - start:.1f} s; {expected}")

        copy_seconds = raw_copy(path)
        if not BULK:
            settings.IMPORT_BULK_MIN_ROWS = 2**62
        prober = Prober(schema)
        prober.start()
        try:
            run, phases = run_import(path, schema)
        finally:
            prober.stop.set()
            prober.join()
        small_path = Path(directory) / "small.csv"
        small_expected = generate(small_path, random.Random(8), rows=SMALL_ROWS, start=ROWS * 2)
        small_run, small_phases = run_import(small_path, schema)

    assert run.status == "done", (run.status, run.error)
    assert run.rows_read == ROWS, run.rows_read
    assert run.imported + run.updated + run.skipped + run.failed == ROWS
    assert run.failed == expected["invalid"], (run.failed, expected)
    assert run.skipped == expected["in_file"] + expected["existing"], (run.skipped, expected)
    with schema_context(schema):
        assert Lead.objects.count() == EXISTING + run.imported + small_run.imported
        assert Activity.objects.filter(type="CREATED").count() == run.imported + small_run.imported
        assert bulk.indexes_missing("lead") == [], bulk.indexes_missing("lead")  # all built and valid
        assert ImportRowError.objects.filter(import_run=run).count() == run.skipped + run.failed

    end_to_end = phases["end to end"]
    copy_rate = ROWS / copy_seconds
    print(f"\n  raw COPY of the file into a plain table   {copy_seconds:7.2f} s  {copy_rate:>10,.0f} rows/s")
    print(
        f"  import end to end (LeadPulse)            {end_to_end:7.2f} s  {ROWS / end_to_end:>10,.0f} rows/s"
        f"  ({end_to_end / copy_seconds:.1f}x the raw COPY; target >= {TARGET_ROWS_PER_S:,} rows/s: "
        f"{'met' if ROWS / end_to_end >= TARGET_ROWS_PER_S else 'NOT met'})"
    )
    order = ["upload stored (import_create)", PLAN, WRITE, DROPPED, BUILT]
    for name in order:
        if name in phases:
            print(f"    {name:<58} {phases[name]:7.2f} s")
    sample = min(ROWS, FLOOR_ROWS)
    floor_seconds = floor(schema, sample)
    floor_rate = sample / floor_seconds
    print(
        f"  the tables alone: {sample:,} of these leads and their CREATED activities written again by plain"
    )
    print(
        "    INSERT ... SELECT into copies of leads_lead and activities_activity (same indexes and generated"
    )
    print(
        f"    search column): {floor_rate:,.0f} rows/s, the ceiling of any import into them on this machine"
    )
    print(
        f"  counts: read {run.rows_read:,}, imported {run.imported:,}, skipped {run.skipped:,} (duplicates), "
        f"failed {run.failed:,} (invalid): as generated"
    )
    slowest = ", ".join(f"{name} {seconds * 1000:,.0f} ms" for name, seconds in prober.slowest.items())
    print(
        f"  meanwhile, requests' statements on the organization ({prober.rounds} rounds): slowest {slowest}; "
        f"errors: {len(prober.errors)}{' ' + prober.errors[0] if prober.errors else ''}"
    )
    assert small_run.status == "done" and small_run.failed == small_expected["invalid"], small_run
    small = small_phases["end to end"]
    print(
        f"  small-import path: {SMALL_ROWS:,} more rows into the organization now holding "
        f"{EXISTING + run.imported:,} leads (row by row, every index live): {small:.2f} s, "
        f"{SMALL_ROWS / small:,.0f} rows/s (plan {small_phases[PLAN]:.2f} s)"
    )

    host = f"{SLUG}.{settings.BASE_DOMAIN}"
    with schema_context(schema):
        token, _ = token_issue(email=MEMBER_EMAIL, password=PASSWORD)
    export(host, token, "?stage=WON&page_size=1")  # warm-up: routing cache, token last use
    rows_small, seconds_small, before_small, peak_small = export(host, token, "?stage=WON")
    rows, seconds, before, peak = export(host, token, "")
    print("\n  GET /api/exports/leads.csv (streamed, in-process client; RSS sampled per chunk)")
    for label, count, elapsed, start_rss, peak_rss in (
        ("stage=WON", rows_small, seconds_small, before_small, peak_small),
        ("all leads", rows, seconds, before, peak),
    ):
        print(
            f"    {label:<10} {count:>9,} rows  {elapsed:6.2f} s  {count / elapsed:>10,.0f} rows/s  "
            f"RSS {start_rss:6.1f} -> peak {peak_rss:6.1f} MiB (+{peak_rss - start_rss:.1f})"
        )
    print(
        f"    target >= {EXPORT_TARGET_ROWS_PER_S:,} rows/s: "
        f"{'met' if rows / seconds >= EXPORT_TARGET_ROWS_PER_S else 'NOT met'}; process max RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
