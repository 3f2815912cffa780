from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet, Value, Window
from django.db.models.functions import Coalesce, NullIf, RowNumber

from shared_apps.users.models import User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.leads.models import Lead
from tenant_apps.records import visibility


def activity_list(
    *,
    lead: Lead | None = None,
    record: Any = None,
    types: list[str] | None = None,
    actor: User | None = None,
) -> QuerySet[Activity]:
    """A record's timeline (newest first is the API's cursor ordering), with actors joined, carrying only
    the activities `actor` may see (None: all of them).

    An account's timeline rolls up its contacts', opportunities' and converted leads' activities: a rep's
    roll-up leaves out those of leads and deals hidden from them (records.visibility)."""
    from tenant_apps.accounts.models import Account

    record = record if record is not None else lead
    if isinstance(record, Account):
        # A contact's or an opportunity's activity carries its account when written (activity_record), so
        # the roll-up is two index ranges, not joins through every contact and deal: measured in
        # bench/records.py, the joins cost ~370 ms per page at 100k accounts, the ranges a few ms.
        # (A contact moving to another account takes its future activities there, its past stays.)
        # The converted leads' ids as literals: an IN (subquery) inside the OR defeats both indexes.
        converted = list(record.converted_leads.values_list("pk", flat=True))
        rolled_up = Q(account=record) | Q(lead_id__in=converted) if converted else Q(account=record)
        activities = Activity.objects.filter(rolled_up)
    else:
        activities = Activity.objects.filter(**{record._meta.model_name: record})
    # joins on the lead's / deal's primary key per row of the index range(s) above, not a scan of the
    # visible ids: the timeline stays bounded by its indexes (bench/records.py)
    activities = activities.filter(visibility.hanging_visible(actor)).select_related("actor")
    if types:
        activities = activities.filter(type__in=types)
    return activities


# Bounds on what one answer carries: threads a page, and the latest messages shown of each thread.
THREADS_PER_PAGE = 20
MAX_THREADS_PER_PAGE = 100
MESSAGES_PER_THREAD = 50


def email_threads(
    *, lead: Lead, offset: int = 0, limit: int = THREADS_PER_PAGE
) -> tuple[list[dict[str, Any]], bool]:
    """A page of the lead's emails grouped by thread, threads by latest message first, each with its count
    and its latest MESSAGES_PER_THREAD messages, oldest first; and whether more threads follow. Grouped,
    ordered and cut in SQL: a lead with thousands of emails costs two bounded queries."""
    emails = Activity.objects.filter(lead=lead, type=ActivityType.EMAIL).annotate(
        thread_key=Coalesce(NullIf(F("thread_id"), Value("")), F("message_id"))
    )
    heads = list(
        emails.order_by()
        .values("thread_key")
        .annotate(last_message_at=Max("occurred_at"), count=Count("id"))
        .order_by("-last_message_at", "thread_key")[offset : offset + limit + 1]
    )
    more, heads = len(heads) > limit, heads[:limit]
    latest = (
        emails.filter(thread_key__in=[head["thread_key"] for head in heads])
        .annotate(
            newest_first=Window(
                RowNumber(),
                partition_by=[F("thread_key")],
                order_by=[F("occurred_at").desc(), F("id").desc()],
            )
        )
        .filter(newest_first__lte=MESSAGES_PER_THREAD)
        .order_by("occurred_at", "id")
    )
    messages: dict[str, list[Activity]] = {}
    for email in latest:
        messages.setdefault(email.thread_key, []).append(email)
    threads = []
    for head in heads:
        shown = messages.get(head["thread_key"], [])
        threads.append(
            {
                "thread_id": head["thread_key"],
                "subject": shown[0].subject if shown else "",
                "count": head["count"],
                "last_message_at": head["last_message_at"],
                "messages": shown,
            }
        )
    return threads, more
