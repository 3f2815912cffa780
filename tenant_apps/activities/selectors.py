from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

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


def email_threads(*, lead: Lead) -> list[dict[str, Any]]:
    """The lead's emails grouped by thread, threads by latest message first, messages oldest first."""
    threads: dict[str, dict[str, Any]] = {}
    emails = Activity.objects.filter(lead=lead, type=ActivityType.EMAIL).order_by("occurred_at", "id")
    for email in emails:
        thread = threads.setdefault(
            email.thread_id or email.message_id,
            {"thread_id": email.thread_id or email.message_id, "subject": email.subject, "messages": []},
        )
        thread["messages"].append(email)
        thread["last_message_at"] = email.occurred_at
    for thread in threads.values():
        thread["count"] = len(thread["messages"])
    return sorted(threads.values(), key=lambda thread: thread["last_message_at"], reverse=True)
