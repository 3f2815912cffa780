"""A contact's, an account's and a deal's timelines have partial indexes (migration activities 0009): the
activities on a lead alone, most of them, write no entry there, and each record's timeline still reads its
index range. Fresh statistics; sequential scans off for the plan checks, as the question is which index
serves each query, not whether a scan wins on a table this small."""

import pytest
from django.db import connection

from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.selectors import activity_list
from tests.tenant_apps.accounts.factories import make_contact, make_opportunity

__all__ = ["make_contact", "make_opportunity"]

TIMELINE_INDEXES = ("activity_contact_time_idx", "activity_account_time_idx", "activity_opp_time_idx")


def _index_bytes() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
            "WHERE c.relname = ANY(%s) AND c.relnamespace = current_schema()::regnamespace",
            [list(TIMELINE_INDEXES)],
        )
        return dict(cursor.fetchall())


def test_a_leads_activities_write_nothing_into_the_other_records_timeline_indexes(in_org, make_lead):
    lead = make_lead()
    before = _index_bytes()
    assert set(before) == set(TIMELINE_INDEXES)
    Activity.objects.bulk_create(Activity(lead=lead, type=ActivityType.NOTE) for _ in range(2000))
    # 2,000 entries of (NULL, time, id) would fill several pages of each whole-table index
    assert _index_bytes() == before


@pytest.fixture
def records(in_org, make_lead, make_account, make_contact, make_opportunity):
    """A few thousand activities, most on leads, a few hundred on each of one account's records."""
    account = make_account()
    contact, deal = make_contact(account=account), make_opportunity(account=account)
    leads = [make_lead() for _ in range(20)]
    Activity.objects.bulk_create(Activity(lead=leads[i % 20], type=ActivityType.NOTE) for i in range(4000))
    Activity.objects.bulk_create(
        [Activity(contact=contact, account=account, type=ActivityType.CALL) for _ in range(300)]
        + [Activity(opportunity=deal, account=account, type=ActivityType.NOTE) for _ in range(300)]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE activities_activity")
    return {"contact": contact, "account": account, "opportunity": deal}


@pytest.mark.parametrize(
    ("kind", "index"),
    [
        ("contact", "activity_contact_time_idx"),
        ("account", "activity_account_time_idx"),
        ("opportunity", "activity_opp_time_idx"),
    ],
)
def test_each_records_timeline_reads_its_partial_index(records, kind, index):
    page = activity_list(record=records[kind]).order_by("-created_at", "-id")[:25]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = page.explain()
    assert index in plan, plan
    assert len(list(page)) == 25
