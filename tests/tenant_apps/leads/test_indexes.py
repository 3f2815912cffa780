"""The access patterns have indexes: EXPLAIN shows each query can use its index.

The tables get a few thousand rows and fresh statistics; sequential scans are switched off for the check, as
the question is which index serves each query, not whether a scan wins on a table this small."""

from datetime import timedelta

import pytest
from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import F, Value
from django.utils import timezone

from shared_apps.core.search import folded
from tenant_apps.activities.models import Activity
from tenant_apps.leads.models import CONVERTED_WHILE_OPEN, Lead, Stage
from tenant_apps.search.selectors import TrigramMatch


@pytest.fixture
def populated(in_org, member) -> int:
    """Realistic selectivity for the planner: 3,000 leads over 20 owners and every stage, 9,600 activities;
    the id of the lead with a long timeline."""
    rows = 3000
    owners = [member() for _ in range(20)]
    now = timezone.now()
    stages = list(Stage.values)
    leads = Lead.objects.bulk_create(
        Lead(
            name=f"lead {i}",
            email=f"l{i}@example.com",
            phone_normalized=f"+1555{i:07d}",
            owner=owners[i % 20],
            stage=stages[i % 7],
            tags=["vip"] if i % 50 == 0 else [],
            created_at=now - timedelta(minutes=i),
            last_contacted_at=now - timedelta(hours=i),
        )
        for i in range(rows)
    )
    Activity.objects.bulk_create(
        Activity(lead=lead, type=("NOTE", "CALL", "STAGE_CHANGE")[i % 3]) for lead in leads for i in range(3)
    )
    # one lead with a long timeline, as the ones people page through have: with three activities a lead, the
    # planner priced sorting three rows about as cheap as the ordered index, and the plan flipped between the
    # two with ANALYZE's sample
    busy = leads[0]
    Activity.objects.bulk_create(
        Activity(lead=busy, type=("NOTE", "CALL", "STAGE_CHANGE")[i % 3]) for i in range(600)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead; ANALYZE activities_activity")
    return busy.pk


def plan(queryset) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    return queryset.explain()


def _full_text():
    query = SearchQuery("1234:*", search_type="raw", config="simple")
    return Lead.objects.filter(search_vector=query)


def _fuzzy():
    return Lead.objects.filter(TrigramMatch(folded("name"), Value("laed 12")))


PATTERNS = [
    ("search: full text with prefixes", lambda busy: _full_text(), "lead_search_gin"),
    ("search: misspelled name", lambda busy: _fuzzy(), "lead_name_trgm"),
    (
        "a rep's open leads by stage",
        lambda busy: Lead.objects.filter(owner_id=1, stage=Stage.PROPOSAL),
        "lead_owner_stage_idx",
    ),
    (
        "a stage's newest leads",
        lambda busy: Lead.objects.filter(stage=Stage.NEW).order_by("-created_at")[:50],
        "lead_stage_created_idx",
    ),
    (
        "leads not contacted for a week",
        lambda busy: Lead.objects.filter(last_contacted_at__lt=timezone.now() - timedelta(days=7)),
        "lead_last_contacted_idx",
    ),
    (
        "the default list page",
        lambda busy: Lead.objects.alive().order_by("-created_at", "-id")[:25],
        "lead_alive_created_idx",
    ),
    ("duplicate check by email", lambda busy: Lead.objects.alive().filter(email="a@b.co"), "lead_email_idx"),
    (
        "duplicate check by phone",
        lambda busy: Lead.objects.alive().filter(phone_normalized="+15550100"),
        "lead_phone_idx",
    ),
    ("leads with a tag", lambda busy: Lead.objects.filter(tags__contains=["vip"]), "lead_tags_gin"),
    (
        "a lead's timeline",
        lambda busy: Activity.objects.filter(lead_id=busy).order_by("-created_at", "-id")[:50],
        "activity_lead_created_idx",
    ),
    (
        "a lead's stage changes",
        lambda busy: Activity.objects.filter(lead_id=busy, type="STAGE_CHANGE"),
        "activity_lead_type_idx",
    ),
]


def test_every_access_pattern_uses_its_index(populated):
    wrong = {
        name: plan(build(populated)) for name, build, index in PATTERNS if index not in plan(build(populated))
    }
    assert not wrong, wrong


def test_a_board_column_reads_its_own_index_range(populated):
    """The board's column query (a stage's latest moved live leads) reads (stage, stage_changed_at, id): a
    column whose leads moved long ago is neither sorted whole nor found by walking every later move (at 1M
    leads that sort or walk was the board's 20 s)."""
    Lead.objects.update(stage_changed_at=F("created_at"), stage=Stage.NEW)
    oldest = list(Lead.objects.order_by("created_at").values_list("pk", flat=True)[:1000])
    Lead.objects.filter(pk__in=oldest).update(stage=Stage.QUALIFIED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    column = (
        Lead.objects.alive()
        .filter(stage=Stage.QUALIFIED)
        .exclude(CONVERTED_WHILE_OPEN)
        .order_by("-stage_changed_at", "-id")[:21]
    )
    assert "lead_board_column_idx" in plan(column)
