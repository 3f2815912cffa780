"""Custom fields at scale (`make bench BENCH=custom_fields`), on a database of its own (<db>_cfbench) and
Redis db BENCH_REDIS_DB (default 11), through one uvicorn process as served:

1. Adding a field to an organization of BENCH_CF_LEADS generated leads (default 1,000,000; bench.generate)
   while a client keeps creating leads: the POST /api/custom-fields/ answer time (target < 1 s), then the
   index build (CREATE INDEX CONCURRENTLY over every lead, as the job runs it) of a field that 1M leads
   hold a value of, and the lead-create latency before vs during the build (writes continue).
2. GET /api/leads/ filtered on that indexed custom field (a narrow number range, varied), p50/p95
   (target p95 < 20 ms) beside a built-in indexed filter (a narrow created_at window) in the same run, and
   the plan's index.
3. Lead create and list (50 a page) in an organization with 20 custom fields (every lead holding all 20)
   vs one with none, interleaved in the same run: throughput ratio (target >= 0.8x).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import bench_organization, free_port, own_redis, report, setup_django, start_uvicorn, timer
from bench.generate import PASSWORD, ensure_generated

LEADS = int(os.environ.get("BENCH_CF_LEADS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_CF_ROUNDS", "100"))
SMALL_LEADS = 2000
OWN_PASSWORD = "cf-bench-password-2026"
FILTER_FIELD = "bench_budget"


class Api:
    def __init__(self, port: int, host: str, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Host": host, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> tuple[float, Any]:
        data = None if body is None else json.dumps(body)
        with timer() as elapsed:
            self.conn.request(method, path, body=data, headers=self.headers)
            response = self.conn.getresponse()
            payload = response.read()
        if response.status != expect:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")
        return elapsed(), json.loads(payload) if payload else None


def _token(organization: Any, email: str, password: str) -> str:
    from django_tenants.utils import schema_context

    from shared_apps.users.services import token_issue

    with schema_context(organization.schema_name):
        raw, _ = token_issue(email=email, password=password)
    return raw


def _fill_budget(organization: Any) -> None:
    """The big organization's `bench_budget` number field, held by every lead (once: kept for later runs),
    not filterable (each run makes it filterable, measuring the index build, and turns it off again)."""
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from tenant_apps.customfields import services
    from tenant_apps.customfields.models import CustomField
    from tenant_apps.leads.models import Lead

    with schema_context(organization.schema_name):
        field = CustomField.objects.filter(record_type="lead", key=FILTER_FIELD).first()
        if field is None:
            with transaction.atomic():
                field = services.custom_field_create(
                    actor=None, record_type="lead", key=FILTER_FIELD, label="Budget", type="number"
                )
        elif field.filterable:  # left by an earlier run: measure the build again
            with transaction.atomic():
                services.custom_field_update(field_id=field.pk, actor=None, changes={"filterable": False})
            services.index_rebuild(field_id=field.pk, index_name=field.index_name)
        if Lead.objects.filter(custom__has_key=FILTER_FIELD).exists():
            return
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(id), max(id) FROM leads_lead")
            low, high = cursor.fetchone()
            step = 100_000
            for start in range(low, high + 1, step):
                with transaction.atomic():
                    cursor.execute(
                        "UPDATE leads_lead SET custom = custom || jsonb_build_object(%s, "
                        "(floor(random() * 1000000))::text) WHERE id >= %s AND id < %s",
                        [FILTER_FIELD, start, start + step],
                    )
            cursor.execute("VACUUM ANALYZE leads_lead")
        print(f"  filled {FILTER_FIELD} on every lead in {time.perf_counter() - started:.1f} s (once)")


class Writer(threading.Thread):
    """Creates leads one after another, recording (when, latency) of each."""

    def __init__(self, port: int, host: str, token: str) -> None:
        super().__init__(daemon=True)
        self.api = Api(port, host, token)
        self.samples: list[tuple[float, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        index = 0
        while not self.stopping.is_set():
            index += 1
            body = {"name": f"cf-writer {index} {random.random()}", "allow_duplicate": True}
            latency, _ = self.api.call("POST", "/api/leads/", body, expect=201)
            self.samples.append((time.perf_counter(), latency))

    def between(self, start: float, end: float) -> list[float]:
        return [latency for at, latency in self.samples if start <= at <= end]


def _adding_a_field(organization: Any, port: int, host: str, token: str) -> dict[str, Any]:
    from django.db import connection
    from django_tenants.utils import schema_context

    from tenant_apps.customfields import services
    from tenant_apps.customfields.models import CustomField

    api = Api(port, host, token)
    writer = Writer(port, host, token)
    writer.start()
    time.sleep(5)
    before_end = time.perf_counter()
    key = f"bench_new_{int(time.time())}"
    added, made = api.call(
        "POST",
        "/api/custom-fields/",
        {"record_type": "lead", "key": key, "label": "New", "type": "text", "filterable": True},
        expect=201,
    )
    budget = api.call("GET", "/api/custom-fields/?record_type=lead")[1]
    budget_id = next(field["id"] for field in budget if field["key"] == FILTER_FIELD)
    flagged, _ = api.call("PATCH", f"/api/custom-fields/{budget_id}/", {"filterable": True})
    # the jobs' work, as the worker runs it (outside a transaction: CREATE INDEX CONCURRENTLY)
    build_start = time.perf_counter()
    with schema_context(organization.schema_name):
        services.index_build(field_id=made["id"])
        new_built = time.perf_counter()
        services.index_build(field_id=budget_id)
        state = CustomField.objects.get(pk=budget_id).index_state
        assert connection.schema_name == organization.schema_name
    build_end = time.perf_counter()
    time.sleep(3)
    writer.stopping.set()
    writer.join()
    with schema_context(organization.schema_name):
        services.custom_field_delete(field_id=made["id"], actor=None)
        services.field_purge(field_id=made["id"])
    return {
        "post": added,
        "patch": flagged,
        "new_build": new_built - build_start,
        "budget_build": build_end - new_built,
        "state": state,
        "before": writer.between(0, before_end),
        "during": writer.between(build_start, build_end),
        "written": len(writer.samples),
    }


def _filtering(organization: Any, port: int, host: str, token: str) -> dict[str, list[float]]:
    from django.db import connection
    from django_tenants.utils import schema_context

    from tenant_apps.customfields.filters import custom_filter_q
    from tenant_apps.leads.models import Lead

    rng = random.Random(19)
    now = datetime.now(UTC)
    api = Api(port, host, token)
    custom: list[float] = []
    builtin: list[float] = []
    for _ in range(ROUNDS):
        low = rng.randrange(0, 999_000)
        custom.append(
            api.call(
                "GET", f"/api/leads/?custom.{FILTER_FIELD}_min={low}&custom.{FILTER_FIELD}_max={low + 500}"
            )[0]
        )
        day = rng.randrange(1, 700)
        since = (now - timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
        until = (now - timedelta(days=day) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        builtin.append(api.call("GET", f"/api/leads/?created_after={since}&created_before={until}")[0])
    # the same filter's query alone, in this process (what the database spends of the request)
    from tenant_apps.leads.selectors import lead_list

    in_database: list[float] = []
    with schema_context(organization.schema_name):
        for _ in range(ROUNDS):
            low = rng.randrange(0, 999_000)
            params = {f"custom.{FILTER_FIELD}_min": str(low), f"custom.{FILTER_FIELD}_max": str(low + 500)}
            with timer() as elapsed:
                leads = lead_list(actor=None, filters={"custom": custom_filter_q("lead", params)})
                list(leads.order_by("-created_at", "-id")[:51])
            in_database.append(elapsed())
    with schema_context(organization.schema_name):
        query = Lead.objects.filter(
            custom_filter_q(
                "lead", {f"custom.{FILTER_FIELD}_min": "1000", f"custom.{FILTER_FIELD}_max": "1500"}
            )
        )
        sql, params = query.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = [row[0] for row in cursor.fetchall()]
    print(
        "  plan of the custom filter: "
        + " | ".join(line.strip() for line in plan if "Index" in line or "Scan" in line)
    )
    return {
        "custom number range (indexed)": custom,
        "built-in created_at range (indexed, baseline)": builtin,
        "custom range, the query alone (ORM)": in_database,
    }


TWENTY = [
    *({"key": f"text_{n}", "type": "text"} for n in range(5)),
    *({"key": f"number_{n}", "type": "number", "filterable": True} for n in range(4)),
    {"key": "date_0", "type": "date", "filterable": True},
    {"key": "date_1", "type": "date"},
    {"key": "flag_0", "type": "boolean"},
    {"key": "flag_1", "type": "boolean"},
    {"key": "tier", "type": "single_select", "options": ["Gold", "Silver", "Bronze"], "filterable": True},
    {"key": "kind", "type": "single_select", "options": ["A", "B"]},
    {"key": "topics", "type": "multi_select", "options": ["x", "y", "z"]},
    {"key": "deal", "type": "money"},
    {"key": "contact_email", "type": "email"},
    {"key": "site", "type": "url"},
    {"key": "seen", "type": "datetime"},
]


def _values(n: int) -> dict[str, Any]:
    values: dict[str, Any] = {f"text_{i}": f"text {i} of {n}" for i in range(5)}
    values.update({f"number_{i}": n * (i + 1) for i in range(4)})
    values.update(
        {
            "date_0": "2026-01-15",
            "date_1": "2025-06-01",
            "flag_0": True,
            "flag_1": False,
            "tier": "Gold",
            "kind": "B",
            "topics": ["x", "z"],
            "deal": {"amount": "1200.50"},
            "contact_email": f"person{n}@example.com",
            "site": "https://example.com/page",
            "seen": "2026-02-01T10:00:00Z",
        }
    )
    return values


def _small_organizations() -> tuple[Any, Any]:
    from django.db import transaction
    from django_tenants.utils import schema_context

    from tenant_apps.customfields import services
    from tenant_apps.customfields.models import CustomField
    from tenant_apps.customfields.values import validate_values
    from tenant_apps.leads.models import Lead

    plain = bench_organization("cfbench-plain", "CF bench plain", OWN_PASSWORD)
    custom = bench_organization("cfbench-custom", "CF bench custom", OWN_PASSWORD)
    for organization, with_fields in ((plain, False), (custom, True)):
        with schema_context(organization.schema_name):
            if with_fields and not CustomField.objects.exists():
                with transaction.atomic():
                    for spec in TWENTY:
                        services.custom_field_create(
                            actor=None, record_type="lead", label=spec["key"], **spec
                        )
                for field in CustomField.objects.filter(filterable=True):
                    services.index_build(field_id=field.pk)
            existing = Lead.objects.count()
            if existing < SMALL_LEADS:
                Lead.objects.bulk_create(
                    [
                        Lead(
                            name=f"Lead {n}",
                            stage="NEW",
                            currency="USD",
                            custom=validate_values("lead", _values(n), partial=False) if with_fields else {},
                        )
                        for n in range(existing, SMALL_LEADS)
                    ],
                    batch_size=1000,
                )
    return plain, custom


def _twenty_vs_none(port: int, base: str) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    plain, custom = _small_organizations()
    apis = {
        "none": Api(port, f"{plain.slug}.{base}", _token(plain, f"admin@{plain.slug}.example", OWN_PASSWORD)),
        "20 custom fields": Api(
            port, f"{custom.slug}.{base}", _token(custom, f"admin@{custom.slug}.example", OWN_PASSWORD)
        ),
    }
    listing: dict[str, list[float]] = {name: [] for name in apis}
    creating: dict[str, list[float]] = {name: [] for name in apis}
    for api in apis.values():  # warm up
        api.call("GET", "/api/leads/?page_size=50")
    for n in range(ROUNDS):
        for name, api in apis.items():
            latency, page = api.call("GET", "/api/leads/?page_size=50")
            assert len(page["results"]) == 50
            if name != "none":
                assert len(page["results"][0]["custom"]) == 20
            listing[name].append(latency)
        for name, api in apis.items():
            body: dict[str, Any] = {"name": f"made {n} {random.random()}", "allow_duplicate": True}
            if name != "none":
                body["custom"] = _values(n)
            creating[name].append(api.call("POST", "/api/leads/", body, expect=201)[0])
    return listing, creating


def main() -> None:
    own_redis(int(os.environ.get("BENCH_REDIS_DB", "11")))
    setup_django("_cfbench")
    from django.conf import settings

    print(f"\ncustom_fields bench: {LEADS:,} generated leads (database *_cfbench), load {os.getloadavg()}")
    organization = ensure_generated(leads=LEADS, activities=LEADS * 2)
    _fill_budget(organization)
    base = settings.BASE_DOMAIN
    host = f"{organization.slug}.{base}"
    token = _token(organization, f"admin@{organization.slug}.example", PASSWORD)
    unlimited = {f"THROTTLE_{plan}": "1000000/min" for plan in ("FREE", "TEAM", "BUSINESS", "ENTERPRISE")}
    port = free_port()
    env = {**os.environ, "DEBUG": "0", **unlimited}
    server = start_uvicorn(env, port)
    try:
        Api(port, host, token).call("GET", "/api/leads/?page_size=1")
        added = _adding_a_field(organization, port, host, token)
        filtered = _filtering(organization, port, host, token)
        listing, creating = _twenty_vs_none(port, base)
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(f"\n1. Adding a field at {LEADS:,} leads (target: the API answer < 1 s, writes continuing)")
    print(f"  POST /api/custom-fields/ (filterable text field): {added['post'] * 1000:.1f} ms")
    print(f"  PATCH making {FILTER_FIELD} (held by every lead) filterable: {added['patch'] * 1000:.1f} ms")
    print(
        f"  index build, new field (no values yet): {added['new_build']:.2f} s; {FILTER_FIELD}: "
        f"{added['budget_build']:.2f} s (CONCURRENTLY; state {added['state']})"
    )
    print(f"  leads created by the concurrent writer: {added['written']}")
    report(
        "  lead create latency before vs during the index builds",
        {"before (baseline)": added["before"], "during the index builds": added["during"]},
        baseline="before (baseline)",
    )
    report(
        f"2. GET /api/leads/ filtered, {ROUNDS} varied ranges each (target p95 < 20 ms)",
        filtered,
        baseline="built-in created_at range (indexed, baseline)",
    )
    report(f"3a. GET /api/leads/?page_size=50, {ROUNDS} each, interleaved", listing, baseline="none")
    report(f"3b. POST /api/leads/, {ROUNDS} each, interleaved", creating, baseline="none")
    for what, rows in (("list", listing), ("create", creating)):
        ratio = statistics.median(rows["none"]) / statistics.median(rows["20 custom fields"])
        print(f"  {what}: throughput with 20 custom fields / none = {ratio:.2f}x (target >= 0.8x)")
    print(f"  load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
