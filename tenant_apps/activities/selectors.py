from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.leads.models import Lead


def activity_list(
    *, lead: Lead | None = None, record: Any = None, types: list[str] | None = None
) -> QuerySet[Activity]:
    """A record's timeline (newest first is the API's cursor ordering), with actors joined.

    An account's timeline rolls up its contacts', opportunities' and converted leads' activities."""
    from tenant_apps.accounts.models import Account

    record = record if record is not None else lead
    if isinstance(record, Account):
        activities = Activity.objects.filter(
            Q(account=record)
            | Q(contact__account=record)
            | Q(opportunity__account=record)
            | Q(lead__in=record.converted_leads.values("pk"))
        )
    else:
        activities = Activity.objects.filter(**{record._meta.model_name: record})
    activities = activities.select_related("actor")
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
