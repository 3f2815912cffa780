"""Segments and account timelines at 100,000 accounts / 1,000,000 activities (issue 4).

Data: one organization ("recordsbench") filled once by COPY (reused by later runs): BENCH_ACCOUNTS accounts
(default 100,000) over statuses, industries and sizes, three contacts each, and BENCH_ACTIVITIES activities
(default 1,000,000) on accounts and their contacts (a contact's activity carries its account, as the
services write them).

Timed through Django's test client (routing, token auth, the DRF views):
  account timeline - GET /api/accounts/<id>/activities/ for random accounts (first page, newest first),
                     beside the first version's roll-up query run as raw SQL (joins through contacts and
                     deals, an IN subquery for converted leads), in the same run;
  segment results  - GET /api/segments/<id>/results/ (first page + COUNT) for a saved segment over
                     accounts ("customers in 3 industries, 51-1000 people, active in the last 90 days"),
                     beside the same filter as a plain sequential scan (enable_indexscan off).
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta

from bench.common import report, setup_django, timer

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "100000"))
ACTIVITIES = int(os.environ.get("BENCH_ACTIVITIES", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "100"))
SLUG = "recordsbench"
PASSWORD = "bench-password-2026"
REP_EMAIL = f"rep@{SLUG}.example"
INDUSTRIES = ("Software", "Retail", "Health", "Energy", "Finance", "Logistics", "Media", "Education")
SIZES = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5001+")
STATUSES = ("prospect", "customer", "customer", "partner", "churned", "inactive")
# The first version's roll-up (through contacts, deals and converted leads, as one OR of joins and a
# subquery): the planner can use no index for it and scans the whole table.
NAIVE_TIMELINE = """
    SELECT a.id FROM activities_activity a
    LEFT JOIN contacts_contact c ON c.id = a.contact_id
    LEFT JOIN opportunities_opportunity o ON o.id = a.opportunity_id
    WHERE a.account_id = %(account)s OR c.account_id = %(account)s OR o.account_id = %(account)s
       OR a.lead_id IN (SELECT id FROM leads_lead WHERE converted_account_id = %(account)s)
    ORDER BY a.created_at DESC, a.id DESC LIMIT 51
"""


def _fill(cursor, schema: str, owner_id: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(2026)
    now = datetime.now(UTC)
    print(f"  filling {schema}: {ACCOUNTS:,} accounts, {ACCOUNTS * 3:,} contacts, {ACTIVITIES:,} activities")
    with cursor.copy(
        "COPY accounts_account (id, tags, created_at, updated_at, name, domain, industry, size, status,"
        " last_activity_at, owner_id) FROM STDIN"
    ) as copy:
        for i in range(1, ACCOUNTS + 1):
            created = now - timedelta(days=rng.randrange(700))
            active = now - timedelta(days=rng.randrange(365))
            copy.write_row(
                (
                    i,
                    "{}",
                    created,
                    created,
                    f"Company {i}",
                    f"company{i}.example",
                    rng.choice(INDUSTRIES),
                    rng.choice(SIZES),
                    rng.choice(STATUSES),
                    active,
                    owner_id,
                )
            )
    with cursor.copy(
        "COPY contacts_contact (id, tags, created_at, updated_at, name, email, phone, phone_normalized,"
        " title, account_id, owner_id) FROM STDIN"
    ) as copy:
        for i in range(1, ACCOUNTS * 3 + 1):
            copy.write_row(
                (
                    i,
                    "{}",
                    now,
                    now,
                    f"Person {i}",
                    f"p{i}@company{(i - 1) // 3 + 1}.example",
                    "",
                    "",
                    "Buyer",
                    (i - 1) // 3 + 1,
                    owner_id,
                )
            )
    with cursor.copy(
        "COPY activities_activity (type, subject, body, metadata, occurred_at, created_at, message_id,"
        " thread_id, actor_id, account_id, contact_id) FROM STDIN"
    ) as copy:
        for _ in range(ACTIVITIES):
            account = rng.randrange(1, ACCOUNTS + 1)
            contact = (account - 1) * 3 + rng.randrange(1, 4) if rng.random() < 0.7 else None
            at = now - timedelta(minutes=rng.randrange(60 * 24 * 700))
            copy.write_row(
                (
                    rng.choice(("CALL", "EMAIL", "MEETING", "NOTE")),
                    "Touch",
                    "",
                    "{}",
                    at,
                    at,
                    "",
                    "",
                    owner_id,
                    account,
                    contact,
                )
            )
    for table in ("accounts_account", "contacts_contact"):
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
    cursor.execute("ANALYZE accounts_account; ANALYZE contacts_contact; ANALYZE activities_activity")


def main() -> None:
    setup_django()
    from django.conf import settings
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import override_settings
    from django_tenants.utils import schema_context

    from shared_apps.organizations.models import Organization
    from shared_apps.organizations.services import organization_provision
    from shared_apps.users.models import Role, User
    from shared_apps.users.services import member_invite, token_issue, token_revoke
    from tenant_apps.accounts.models import Account
    from tenant_apps.segments.services import segment_create, segment_delete

    connection.set_schema_to_public()
    organization = Organization.objects.filter(slug=SLUG).first()
    if organization is None:
        organization = organization_provision(
            name="Records bench", slug=SLUG, admin_email=f"admin@{SLUG}.example", admin_password=PASSWORD
        )
    with schema_context(organization.schema_name):
        admin = User.objects.get(email=f"admin@{SLUG}.example")
        if Account.objects.count() < ACCOUNTS:
            with transaction.atomic(), connection.cursor() as cursor, timer() as elapsed:
                _fill(
                    cursor.cursor if hasattr(cursor, "cursor") else cursor,
                    organization.schema_name,
                    admin.pk,
                )
            print(f"  filled in {elapsed():.1f} s")
        since = (datetime.now(UTC) - timedelta(days=90)).date().isoformat()
        segment = segment_create(
            actor=admin,
            name=f"bench {datetime.now(UTC).isoformat()}",
            record_type="account",
            definition={
                "match": "all",
                "conditions": [
                    {"field": "status", "op": "eq", "value": "customer"},
                    {"field": "industry", "op": "in", "value": ["Software", "Health", "Finance"]},
                    {"field": "size", "op": "in", "value": ["51-200", "201-1000"]},
                    {"field": "last_activity_at", "op": "gte", "value": since},
                ],
            },
        )
        raw, token = token_issue(email=admin.email, password=PASSWORD)
        if not User.objects.filter(email=REP_EMAIL).exists():
            member_invite(email=REP_EMAIL, role=Role.REP, password=PASSWORD)
        rep_raw, rep_token = token_issue(email=REP_EMAIL, password=PASSWORD)
    client = Client(HTTP_HOST=f"{SLUG}.{settings.BASE_DOMAIN}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    # a rep's timeline carries the visibility policy's condition (each row's lead and deal joined by key)
    rep_client = Client(HTTP_HOST=f"{SLUG}.{settings.BASE_DOMAIN}", HTTP_AUTHORIZATION=f"Bearer {rep_raw}")
    rng = random.Random(7)
    samples: dict[str, list[float]] = {
        key: []
        for key in (
            "account timeline (LeadPulse)",
            "account timeline as a rep (LeadPulse, visibility policy)",
            "account timeline v1 joins, raw SQL (baseline)",
            "segment results + count (LeadPulse)",
            "segment as a sequential scan (baseline)",
        )
    }
    unlimited = {plan: "1000000/min" for plan in settings.THROTTLE_RATES_BY_PLAN}
    try:
        with override_settings(THROTTLE_RATES_BY_PLAN=unlimited):
            for _ in range(ROUNDS):
                account = rng.randrange(1, ACCOUNTS + 1)
                with timer() as elapsed:
                    response = client.get(f"/api/accounts/{account}/activities/")
                assert response.status_code == 200, response.content[:300]
                samples["account timeline (LeadPulse)"].append(elapsed())
                with timer() as elapsed:
                    response = rep_client.get(f"/api/accounts/{account}/activities/")
                assert response.status_code == 200, response.content[:300]
                samples["account timeline as a rep (LeadPulse, visibility policy)"].append(elapsed())
                with schema_context(organization.schema_name), connection.cursor() as cursor:
                    with timer() as elapsed:
                        cursor.execute(NAIVE_TIMELINE, {"account": account})
                        cursor.fetchall()
                    samples["account timeline v1 joins, raw SQL (baseline)"].append(elapsed())
            for round_ in range(max(10, ROUNDS // 5)):
                with timer() as elapsed:
                    response = client.get(f"/api/segments/{segment.pk}/results/")
                assert response.status_code == 200, response.content[:300]
                samples["segment results + count (LeadPulse)"].append(elapsed())
                if round_ < 5:
                    with (
                        schema_context(organization.schema_name),
                        transaction.atomic(),
                        connection.cursor() as cursor,
                    ):
                        cursor.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")
                        with timer() as elapsed:
                            cursor.execute(
                                "SELECT count(*) FROM accounts_account WHERE status = 'customer'"
                                " AND industry IN ('Software', 'Health', 'Finance')"
                                " AND size IN ('51-200', '201-1000')"
                                " AND last_activity_at >= %s AND deleted_at IS NULL",
                                [since],
                            )
                            cursor.fetchall()
                        samples["segment as a sequential scan (baseline)"].append(elapsed())
            count = response.json().get("count")
    finally:
        with schema_context(organization.schema_name):
            token_revoke(token=token)
            token_revoke(token=rep_token)
            segment_delete(segment_id=segment.pk, actor=admin)
    report(
        f"Records at {ACCOUNTS:,} accounts / {ACTIVITIES:,} activities ({SLUG}); segment matches {count}",
        {k: v for k, v in samples.items() if "timeline" in k},
        baseline="account timeline v1 joins, raw SQL (baseline)",
    )
    report(
        "Segment evaluation",
        {k: v for k, v in samples.items() if "segment" in k},
        baseline="segment as a sequential scan (baseline)",
    )
