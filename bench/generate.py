"""Big-data generator for benches: fills one organization with leads, their timelines, accounts, contacts
and opportunities, fast, through COPY.

    from bench.generate import ensure_generated
    organization = ensure_generated(leads=100_000, activities=500_000)   # after bench.common.setup_django()
    # from a shell, on the <db>_bench database like every bench (defaults: BENCH_LEADS / BENCH_ACTIVITIES,
    # else 200,000 / 1,000,000):
    .venv/bin/python -m config.devenv run -- .venv/bin/python -m bench.generate --leads 1000000 \
        --activities 5000000

Measured on this 2-core machine: 1,000,000 leads + 5,000,000 activities in ~105 s (COPY with the
timelines built alongside 38 s, rebuilding 24 indexes 60 s, validating 10 foreign keys 4 s); 200,000 /
1,000,000 in ~22 s. The organization's admin is admin@<slug>.example with bench.generate.PASSWORD; the
owners are owner<N>@bigdata.example (no usable password).

The data is what the services would have written (the tests of the analytics app rely on the same rules):

- leads created over the last two years (more of them recently), with a source, an owner (one in ten has
  none), a value (log-normal, median ~5,400), tags, a score; names, companies, emails and phones varied
  enough for search;
- each lead's timeline: CREATED, then a valid chain of STAGE_CHANGE activities (the pipeline's TRANSITIONS:
  forward one stage at a time or to LOST, LOST sometimes re-opened to NEW; the lead's stage and
  stage_changed_at are its last change), calls, emails and meetings (which set last_contacted_at) up to the
  requested number of activities, and "Lead deleted" for the 2% that are soft-deleted;
- accounts, contacts at them, and opportunities (open ones with an expected close date and a
  probability, some closed).

Speed: rows are formatted as COPY text by hand (no per-value adaptation) and streamed while PostgreSQL
ingests them. Everything happens in ONE transaction that also drops the secondary indexes and foreign keys
of the two big tables first and recreates them afterwards (building an index once is far cheaper than
updating it a million times; re-adding a foreign key validates every row in one join). DDL is
transactional in PostgreSQL: an interrupted run rolls back to the empty organization, indexes and
constraints included, and other sessions never see a table without them (they wait on its lock).

Reuse: the scale is in the organization's slug (bigdata-1m-5m, bigdata-100k-500k, ...) and a finished run
leaves a marker table in its schema; a second call with the same scale returns at once. A session-level
advisory lock makes a concurrent caller wait for the first one instead of generating twice.
"""

from __future__ import annotations

import argparse
import math
import os
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

DEFAULT_LEADS = 1_000_000  # the issue's scale: generate()'s defaults
DEFAULT_ACTIVITIES = 5_000_000
# What `make bench` uses unless BENCH_LEADS / BENCH_ACTIVITIES say otherwise: a first run, generation
# included, stays within a few minutes on a small machine, and every bench shares the one organization.
BENCH_DEFAULT = (200_000, 1_000_000)
PASSWORD = "bench-password-2026"
MARKER = "bench_generated"
DAY = 86_400
HISTORY_DAYS = 730
CHUNK = 20_000  # leads per COPY chunk (a chunk's rows are joined into one write)

# Pipeline simulation: at each stage, (probability to advance, probability to be lost); the rest stay.
ADVANCE = {
    "NEW": ("CONTACTED", 0.60, 0.10),
    "CONTACTED": ("QUALIFIED", 0.55, 0.20),
    "QUALIFIED": ("PROPOSAL", 0.55, 0.20),
    "PROPOSAL": ("NEGOTIATION", 0.55, 0.25),
    "NEGOTIATION": ("WON", 0.60, 0.30),
}
REOPEN = 0.08  # LOST -> NEW
MEAN_DAYS = {"NEW": 3, "CONTACTED": 7, "QUALIFIED": 10, "PROPOSAL": 14, "NEGOTIATION": 10, "LOST": 45}
SOURCES = (
    ("web", 30),
    ("ads", 20),
    ("referral", 15),
    ("outbound", 15),
    ("event", 8),
    ("import", 7),
    ("other", 5),
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CONTACT_TYPES = (("EMAIL", 50), ("CALL", 35), ("MEETING", 15))
TAGS = ("vip", "q4", "inbound", "partner", "enterprise", "smb", "renewal", "trial", "webinar", "priority")
FIRST = _words(
    "Ada Alan Alice Amir Ana Anders Anna Ari Beatriz Ben Bianca Carlos Chen Chloe Dana Daniel David Diego "
    "Elena Emil Emma Eva Farah Felix Fatima Gabriel Grace Hana Hugo Ines Ivan Jada James Jana Javier Jin "
    "Jonas Julia Kai Kenji Lara Leila Leo Lina Lucas Luis Maya Marco Maria Mateo Mia Mohamed Nadia Nina "
    "Noah Olga Omar Oscar Paula Pedro Priya Rafael Rosa Ruth Sam Sara Sofia Stefan Tara Theo Uma Victor "
    "Yara Yuki Zoe Zoltan"
)
LAST = _words(
    "Abe Adler Alvarez Andersen Bauer Becker Bianchi Brown Castro Chen Costa Cruz Dubois Duarte Eriksen "
    "Fischer Fontaine Garcia Gomez Haas Hansen Ito Jensen Kaur Khan Kim Klein Kowalski Kraus Laine "
    "Lambert Larsen Lopez Martin Meyer Moreau Muller Nagy Nakamura Novak Okafor Olsen Park Patel Perez "
    "Petrov Rossi Sato Schmidt Silva Singh Smith Suzuki Tanaka Torres Vargas Weber Wong Yamamoto Young "
    "Zhang Ziegler"
)
WORDS = _words(
    "Acme Apex Arc Atlas Aurora Beacon Blue Bright Cedar Cloud Coastal Copper Crest Delta Echo Ember "
    "Falcon Forge Frontier Global Granite Harbor Helix Horizon Iron Jade Keystone Lumen Maple Meridian "
    "Nimbus Nova Oak Orbit Pioneer Prime Quantum Quartz Redwood River Sage Signal Silver Solar Summit "
    "Terra Titan Unity Vector Vertex Vista Willow Zenith"
)
INDUSTRY = ("Analytics", "Bio", "Capital", "Dynamics", "Energy", "Foods", "Health", "Labs", "Logistics",
            "Media", "Networks", "Robotics", "Software", "Systems", "Textiles", "Ventures")  # fmt: skip
SUFFIX = ("Inc", "LLC", "Ltd", "GmbH", "Corp", "SA", "")


def _scale(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 and n else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def slug_for(leads: int, activities: int) -> str:
    return f"bigdata-{_scale(leads)}-{_scale(activities)}"


def _log(message: str) -> None:
    print(f"[generate] {message}", flush=True)


@contextmanager
def _step(label: str, timings: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[label] = time.perf_counter() - start
    _log(f"{label}: {timings[label]:.1f} s")


class Stamp:
    """Epoch seconds -> COPY timestamptz text, fast (the date part is cached per day)."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}

    def __call__(self, seconds: float) -> str:
        whole = int(seconds)
        day, rest = divmod(whole, DAY)
        text = self.days.get(day)
        if text is None:
            text = self.days[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{text} {hours:02d}:{minutes:02d}:{secs:02d}+00"


def _weighted(pairs: tuple[tuple[str, int], ...]) -> Callable[[random.Random], str]:
    values = [value for value, _ in pairs]
    cumulative, total = [], 0
    for _, weight in pairs:
        total += weight
        cumulative.append(total)

    def pick(rng: random.Random) -> str:
        return rng.choices(values, cum_weights=cumulative)[0]

    return pick


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _chain(rng: random.Random, created: float, now: float) -> list[tuple[str, str, float]]:
    """A lead's stage changes [(from, to, at)], valid per TRANSITIONS, all before `now`."""
    changes: list[tuple[str, str, float]] = []
    stage, at = "NEW", created
    while len(changes) < 12:
        if stage == "WON":
            break
        if stage == "LOST":
            if rng.random() >= REOPEN:
                break
            target = "NEW"
        else:
            forward, p_advance, p_lose = ADVANCE[stage]
            roll = rng.random()
            if roll < p_advance:
                target = forward
            elif roll < p_advance + p_lose:
                target = "LOST"
            else:
                break
        at += rng.expovariate(1 / (MEAN_DAYS[stage] * DAY)) + 60
        if at >= now:
            break
        changes.append((stage, target, at))
        stage = target
    return changes


def _marker_scale(cursor: Any, schema: str) -> tuple[int, int] | None:
    cursor.execute("SELECT to_regclass(%s)", [f'"{schema}".{MARKER}'])
    if cursor.fetchone()[0] is None:
        return None
    cursor.execute(f'SELECT leads, activities FROM "{schema}".{MARKER}')
    row = cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else None


def _secondary_indexes(cursor: Any, schema: str, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, CREATE statement) of every index on `tables` that backs no constraint (PK, UNIQUE)."""
    cursor.execute(
        """
        SELECT i.relname, pg_get_indexdef(x.indexrelid)
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = %s AND t.relname = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        ORDER BY t.relname, i.relname
        """,
        [schema, list(tables)],
    )
    return [(name, definition) for name, definition in cursor.fetchall()]


def _foreign_keys(cursor: Any, schema: str, tables: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(table, name, definition) of the foreign keys declared on `tables`."""
    cursor.execute(
        """
        SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = %s AND t.relname = ANY(%s) AND c.contype = 'f'
        ORDER BY t.relname, c.conname
        """,
        [schema, list(tables)],
    )
    return [(table, name, definition) for table, name, definition in cursor.fetchall()]


def _copy(cursor: Any, table: str, columns: Sequence[str], chunks: Iterator[list[str]]) -> int:
    rows = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for chunk in chunks:
            if chunk:
                copy.write("".join(chunk))
                rows += len(chunk)
    return rows


def _owners(schema: str, count: int) -> list[int]:
    """`count` members (reps and managers) plus the bench admin; returns the owners' ids."""
    from django.contrib.auth.hashers import make_password
    from django_tenants.utils import schema_context

    from shared_apps.users.models import Role, User

    with schema_context(schema):
        unusable = make_password(None)
        existing = set(User.objects.values_list("email", flat=True))
        new = [
            User(
                email=f"owner{i}@bigdata.example",
                full_name=f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}",
                role=Role.MANAGER if i % 8 == 0 else Role.REP,
                password=unusable,
            )
            for i in range(count)
            if f"owner{i}@bigdata.example" not in existing
        ]
        User.objects.bulk_create(new)
        return list(
            User.objects.filter(email__endswith="@bigdata.example", email__startswith="owner")
            .order_by("id")
            .values_list("id", flat=True)
        )


LEAD_COLUMNS = [
    "id", "name", "email", "phone", "phone_normalized", "company", "identity_key", "source", "stage", "value",
    "currency", "tags", "score", "stage_changed_at", "last_contacted_at", "created_at", "updated_at",
    "deleted_at", "owner_id",
]  # fmt: skip
ACTIVITY_COLUMNS = [
    "type", "subject", "body", "metadata", "occurred_at", "created_at", "message_id", "thread_id", "actor_id",
    "lead_id",
]  # fmt: skip


class _TimelineBuilder:
    """Leads and their timelines as COPY text, chunk by chunk. Contact activities are spread so that the
    running total follows the requested number of activities."""

    def __init__(
        self,
        rng: random.Random,
        stamp: Stamp,
        now_s: float,
        companies: list[str],
        domains: list[str],
        owner_ids: list[int],
        pick_source: Callable[[random.Random], str],
        pick_contact: Callable[[random.Random], str],
        activities: int,
        leads: int,
    ) -> None:
        from tenant_apps.records.normalize import identity_key

        self.identity_key = identity_key
        self.rng, self.stamp, self.now_s = rng, stamp, now_s
        self.start_s = now_s - HISTORY_DAYS * DAY
        self.companies, self.domains, self.owner_ids = companies, domains, owner_ids
        self.pick_source, self.pick_contact = pick_source, pick_contact
        self.activities, self.leads = activities, leads
        self.counts = {"leads": 0, "activities": 0, "stage_changes": 0, "deleted": 0}

    def chunk(self, first_id: int, size: int) -> tuple[str, str]:
        rng, stamp, now_s = self.rng, self.stamp, self.now_s
        leads: list[list[str]] = []
        timelines: list[list[tuple[float, str]]] = []
        spans: list[tuple[float, float]] = []
        owners: list[str] = []
        for offset in range(size):
            lead_id = first_id + offset
            created = self.start_s + HISTORY_DAYS * DAY * math.sqrt(rng.random())
            first, last = rng.choice(FIRST), rng.choice(LAST)
            name = f"{first} {last}"
            company_index = rng.randrange(len(self.companies))
            company = self.companies[company_index]
            email = f"{first.lower()}.{last.lower()}{lead_id}@{self.domains[company_index]}"
            if rng.random() < 0.6:
                digits = f"{rng.randrange(10**7):07d}"
                phone, phone_normalized = f"+1 555 {digits[:3]} {digits[3:]}", f"+1555{digits}"
            else:
                phone = phone_normalized = ""
            source = self.pick_source(rng)
            owner = rng.choice(self.owner_ids) if rng.random() < 0.9 else None
            owner_text = str(owner) if owner else "\\N"
            cents = min(99_999_999, int(rng.lognormvariate(8.6, 1.0)) * 100)
            chain = _chain(rng, created, now_s)
            stage = chain[-1][1] if chain else "NEW"
            changed = chain[-1][2] if chain else created
            end = min(now_s, changed + 21 * DAY)
            deleted = end + rng.random() * (now_s - end) if rng.random() < 0.02 else None
            events = [
                (
                    created,
                    f"CREATED\tLead created: {name}\t\t"
                    f'{{"source": "{source}", "owner_id": {owner or "null"}}}',
                )
            ]
            for from_stage, to_stage, at in chain:
                events.append(
                    (
                        at,
                        f"STAGE_CHANGE\tMoved to {to_stage}\t\t"
                        f'{{"from": "{from_stage}", "to": "{to_stage}", "reason": ""}}',
                    )
                )
            if deleted is not None:
                events.append((deleted, 'SYSTEM\tLead deleted\t\t{"event": "deleted"}'))
                self.counts["deleted"] += 1
            self.counts["stage_changes"] += len(chain)
            timelines.append(events)
            spans.append((created, end))
            owners.append(owner_text)
            tags = ",".join(rng.sample(TAGS, k=rng.choice((0, 0, 0, 1, 1, 2))))
            leads.append(
                [
                    str(lead_id), name, email, phone, phone_normalized, company,
                    self.identity_key(name, company), source, stage, _money(cents), "USD", f"{{{tags}}}",
                    str(rng.randrange(101)), stamp(changed), "\\N", stamp(created), "",
                    stamp(deleted) if deleted is not None else "\\N", owner_text,
                ]
            )  # fmt: skip
        # Calls, emails and meetings: this chunk's share of what the total still needs.
        mandatory = sum(len(events) for events in timelines)
        done = self.counts["leads"] + size
        budget = max(0, round(self.activities * done / self.leads) - self.counts["activities"] - mandatory)
        contacted = [0.0] * size
        for index in rng.choices(range(size), k=budget):
            created, end = spans[index]
            kind = self.pick_contact(rng)
            body = "Left a voicemail" if kind == "CALL" else "Following up on our conversation"
            metadata = '{"direction": "outbound"}' if kind == "EMAIL" else "{}"
            at = created + rng.random() * max(60.0, end - created)
            timelines[index].append((at, f"{kind}\t{kind.title()} with the lead\t{body}\t{metadata}"))
            contacted[index] = max(contacted[index], at)
        rows: list[str] = []
        for index, events in enumerate(timelines):
            lead_id, owner_text = first_id + index, owners[index]
            events.sort(key=lambda event: event[0])
            for at, text in events:
                when = stamp(at)
                rows.append(f"{text}\t{when}\t{when}\t\t\t{owner_text}\t{lead_id}\n")
            row = leads[index]
            if contacted[index]:
                row[14] = stamp(contacted[index])
            row[16] = stamp(events[-1][0])
        self.counts["leads"] += size
        self.counts["activities"] += len(rows)
        return "".join("\t".join(row) + "\n" for row in leads), "".join(rows)


def _stream(raw: Any, chunks: Iterator[tuple[str, str]]) -> None:
    """COPY each chunk's leads then activities in a second thread while this one builds the next chunk
    (the two share one psycopg connection, one thread at a time, inside the caller's transaction)."""
    pending: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def consume() -> None:
        try:
            with raw.cursor() as cursor:
                while (item := pending.get()) is not None:
                    for table, columns, text in (
                        ("leads_lead", LEAD_COLUMNS, item[0]),
                        ("activities_activity", ACTIVITY_COLUMNS, item[1]),
                    ):
                        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                            copy.write(text)
        except BaseException as error:  # re-raised in the producing thread
            failure.append(error)
            while pending.get() is not None:  # unblock the producer
                pass

    worker = threading.Thread(target=consume, name="bench-copy")
    worker.start()
    try:
        for chunk in chunks:
            if failure:
                break
            pending.put(chunk)
    finally:
        pending.put(None)
        worker.join()
    if failure:
        raise failure[0]


def generate(
    schema: str,
    *,
    leads: int = DEFAULT_LEADS,
    activities: int = DEFAULT_ACTIVITIES,
    owners: int | None = None,
    seed: int = 2026,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Fill the (empty) organization schema `schema` in one transaction; returns counts and timings.

    `activities` is met exactly when it is at least what the leads' own timelines need (CREATED and their
    stage changes, about three per lead); below that only those are written."""
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    rng = random.Random(seed)
    stamp = Stamp()
    timings: dict[str, float] = {}
    now_s = (now or datetime.now(UTC)).timestamp()
    pick_source, pick_contact = _weighted(SOURCES), _weighted(CONTACT_TYPES)
    owners = owners if owners is not None else max(5, min(200, leads // 40_000))
    companies = [
        " ".join(part for part in (rng.choice(WORDS), rng.choice(INDUSTRY), rng.choice(SUFFIX)) if part)
        for _ in range(max(50, leads // 40))
    ]
    domains = [company.split()[0].lower() + company.split()[1].lower() + ".example" for company in companies]
    counts = {"leads": 0, "activities": 0, "stage_changes": 0, "deleted": 0}

    with _step("members", timings):
        owner_ids = _owners(schema, owners)
    with schema_context(schema), transaction.atomic():
        cursor = connection.cursor()
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SELECT count(*) FROM leads_lead")
        if cursor.fetchone()[0]:
            raise SystemExit(f"{schema} already has leads: generate into an empty organization")
        big = ("leads_lead", "activities_activity")
        indexes = _secondary_indexes(cursor, schema, big)
        foreign_keys = _foreign_keys(cursor, schema, big)
        with _step(f"drop {len(indexes)} indexes and {len(foreign_keys)} foreign keys", timings):
            for table, name, _ in foreign_keys:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{schema}"."{name}"')

        cursor.execute("SELECT coalesce(max(id), 0) FROM leads_lead")
        first_id = int(cursor.fetchone()[0]) + 1
        builder = _TimelineBuilder(
            rng, stamp, now_s, companies, domains, owner_ids, pick_source, pick_contact, activities, leads
        )
        with _step(f"generate and COPY {leads:,} leads with their timelines", timings):
            chunks = (builder.chunk(first_id + n, min(CHUNK, leads - n)) for n in range(0, leads, CHUNK))
            _stream(cursor.connection, chunks)
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('leads_lead', 'id'), (SELECT max(id) FROM leads_lead))"
            )
        counts.update(builder.counts)
        with _step("accounts, contacts, opportunities", timings):
            counts.update(_customers(cursor, rng, stamp, companies, domains, owner_ids, leads, now_s))
        with _step(f"recreate {len(indexes)} indexes", timings):
            for _name, definition in indexes:
                cursor.execute(definition)
        with _step(f"re-add and validate {len(foreign_keys)} foreign keys", timings):
            for table, name, definition in foreign_keys:
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(
            f"CREATE TABLE {MARKER} (leads bigint, activities bigint, seed int, finished_at timestamptz)"
        )
        cursor.execute(f"INSERT INTO {MARKER} VALUES (%s, %s, %s, now())", [leads, activities, seed])
    with _step("analyze", timings), connection.cursor() as cursor:
        # every table written, as autovacuum would have left them soon after: a table never analyzed is
        # planned as empty (a search of 20,000 contacts then reads them all through an unrelated partial
        # index). The tables filled with their GIN indexes live are vacuumed too: until then every search
        # reads the indexes' whole pending lists (4 MB each).
        for table in ("leads_lead", "activities_activity"):
            cursor.execute(f'ANALYZE "{schema}".{table}')
        for table in (
            "opportunities_opportunity",
            "accounts_account",
            "contacts_contact",
            "search_searchword",
        ):
            cursor.execute(f'VACUUM (ANALYZE) "{schema}".{table}')
    return {"counts": counts, "timings": timings}


def _customers(
    cursor: Any,
    rng: random.Random,
    stamp: Stamp,
    companies: list[str],
    domains: list[str],
    owner_ids: list[int],
    leads: int,
    now_s: float,
) -> dict[str, int]:
    """Accounts (one per 200 leads), contacts (one per 50) and opportunities (one per 100)."""
    n_accounts, n_contacts, n_opportunities = (
        max(10, leads // 200),
        max(20, leads // 50),
        max(20, leads // 100),
    )
    start_s = now_s - HISTORY_DAYS * DAY
    cursor.execute("SELECT coalesce(max(id), 0) FROM accounts_account")
    first_account = int(cursor.fetchone()[0]) + 1
    accounts = []
    for i in range(n_accounts):
        created = stamp(start_s + rng.random() * HISTORY_DAYS * DAY)
        index = i % len(companies)
        accounts.append(
            f"{first_account + i}\t{companies[index]}\t{domains[index]}\tSoftware\t\t"
            f"{rng.choice(('prospect', 'customer', 'customer', 'partner', 'churned'))}\t{{}}\t"
            f"{created}\t{created}\t{rng.choice(owner_ids)}\n"
        )
    _copy(
        cursor,
        "accounts_account",
        [
            "id",
            "name",
            "domain",
            "industry",
            "size",
            "status",
            "tags",
            "created_at",
            "updated_at",
            "owner_id",
        ],
        iter([accounts]),
    )
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence('accounts_account', 'id'), %s)",
        [first_account + n_accounts - 1],
    )
    contacts = []
    for i in range(n_contacts):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = stamp(start_s + rng.random() * HISTORY_DAYS * DAY)
        account = first_account + rng.randrange(n_accounts)
        domain = domains[(account - first_account) % len(domains)]
        contacts.append(
            f"{first} {last}\t{first.lower()}.{last.lower()}.c{i}@{domain}"
            f"\t\t\tBuyer\t{account}\t{{}}\t{created}\t{created}\t{rng.choice(owner_ids)}\n"
        )
    _copy(
        cursor,
        "contacts_contact",
        _words("name email phone phone_normalized title account_id tags created_at updated_at owner_id"),
        iter([contacts]),
    )
    stages = (("QUALIFICATION", 10), ("DISCOVERY", 25), ("PROPOSAL", 50), ("NEGOTIATION", 75))
    # every deal is on a pipeline's stage: the default pipeline's stage of its `stage` key (migration
    # opportunities 0008 creates that pipeline in every organization)
    cursor.execute(
        "SELECT s.key, s.id, p.id FROM opportunities_pipelinestage s "
        "JOIN opportunities_pipeline p ON p.id = s.pipeline_id WHERE p.is_default"
    )
    stage_ids = {key: (stage_id, pipeline_id) for key, stage_id, pipeline_id in cursor.fetchall()}
    opportunities = []
    today = datetime.fromtimestamp(now_s, UTC).date()
    for i in range(n_opportunities):
        created_s = start_s + rng.random() * HISTORY_DAYS * DAY
        account = first_account + rng.randrange(n_accounts)
        amount = _money(int(rng.lognormvariate(9.5, 1.0)) * 100)
        closed = rng.random() < 0.4
        if closed:
            won = rng.random() < 0.45
            stage, probability = ("CLOSED_WON", 100) if won else ("CLOSED_LOST", 0)
            closed_at = stamp(min(now_s, created_s + rng.random() * 90 * DAY))
            expected = (datetime.fromtimestamp(created_s, UTC).date() + timedelta(days=60)).isoformat()
        else:
            stage, probability = rng.choice(stages)
            closed_at = "\\N"
            expected = (
                (today + timedelta(days=rng.randrange(-30, 400))).isoformat() if rng.random() < 0.9 else "\\N"
            )
        created = stamp(created_s)
        stage_id, pipeline_id = stage_ids[stage]
        opportunities.append(
            f"Deal {i}\t{account}\t{amount}\tUSD\t{stage}\t{probability}\t{expected}\t{closed_at}\t\t"
            f"{{}}\t{created}\t{created}\t{rng.choice(owner_ids)}\t{pipeline_id}\t{stage_id}\n"
        )
    _copy(
        cursor,
        "opportunities_opportunity",
        _words(
            "name account_id amount currency stage probability expected_close_date closed_at "
            "close_reason tags created_at updated_at owner_id pipeline_id pipeline_stage_id"
        ),
        iter([opportunities]),
    )
    return {"accounts": n_accounts, "contacts": n_contacts, "opportunities": n_opportunities}


def ensure_generated(
    *, leads: int = DEFAULT_LEADS, activities: int = DEFAULT_ACTIVITIES, seed: int = 2026
) -> Any:
    """The organization holding this scale of generated data: reused when a finished run left its marker,
    else provisioned (or emptied, if an interrupted run left it half-made: it never commits half) and
    filled. Call after bench.common.setup_django()."""
    from django.db import connection

    from shared_apps.organizations.models import Organization, OrganizationStatus
    from shared_apps.organizations.services import organization_provision

    slug = slug_for(leads, activities)
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        # Session-level: held across the generation's transaction; a concurrent caller waits here.
        cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"bench-generate:{slug}"])
    try:
        organization = (
            Organization.objects.filter(slug=slug).exclude(status=OrganizationStatus.DELETED).first()
        )
        if organization is not None:
            with connection.cursor() as cursor:
                found = _marker_scale(cursor, organization.schema_name)
            if found == (leads, activities):
                _log(
                    f"reusing {slug} ({organization.schema_name}): {leads:,} leads, {activities:,} activities"
                )
                return organization
        else:
            organization = organization_provision(
                name=f"Bench big data {_scale(leads)} leads", slug=slug, admin_email=f"admin@{slug}.example",
                admin_password=PASSWORD,
            )  # fmt: skip
        _log(
            f"generating into {slug} ({organization.schema_name}): {leads:,} leads, {activities:,} activities"
        )
        started = time.perf_counter()
        result = generate(organization.schema_name, leads=leads, activities=activities, seed=seed)
        connection.set_schema_to_public()
        _log(
            f"done in {time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{key} {value:,}" for key, value in result["counts"].items())
        )
        return organization
    finally:
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [f"bench-generate:{slug}"])


def scale_from_env(default_leads: int, default_activities: int) -> tuple[int, int]:
    return (
        int(os.environ.get("BENCH_LEADS", default_leads)),
        int(os.environ.get("BENCH_ACTIVITIES", default_activities)),
    )


def main() -> None:
    """`make bench BENCH=generate`: generate (or find) the organization at BENCH_LEADS / BENCH_ACTIVITIES
    (default BENCH_DEFAULT) and print how long each step took."""
    from bench.common import setup_django

    setup_django()
    leads, activities = scale_from_env(*BENCH_DEFAULT)
    ensure_generated(leads=leads, activities=activities)


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=None, help="default BENCH_LEADS or 200,000")
    parser.add_argument("--activities", type=int, default=None, help="default BENCH_ACTIVITIES or 1,000,000")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    from bench.common import setup_django

    setup_django()
    env_leads, env_activities = scale_from_env(*BENCH_DEFAULT)
    ensure_generated(
        leads=args.leads or env_leads, activities=args.activities or env_activities, seed=args.seed
    )
    return 0


if __name__ == "__main__":
    sys.exit(cli())
