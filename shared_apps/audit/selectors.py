"""Reading an audit log (the schema being served: an organization's on its host, the platform's on the root
host), with its filters; and the log as CSV."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypedDict

from django.db.models import Q, QuerySet

from shared_apps.audit.models import AuditEvent
from shared_apps.http.streaming import csv_chunks, escape_cell

CSV_BATCH = 500
CSV_COLUMNS = [
    "at",
    "action",
    "actor_id",
    "actor_email",
    "via",
    "ip",
    "user_agent",
    "target_type",
    "target_id",
    "target_repr",
    "changes",
]


class AuditFilters(TypedDict, total=False):
    actor: str  # an id (digits) or an email
    action: str  # exact, or a prefix ending with "." ("member.")
    since: datetime  # inclusive
    until: datetime  # exclusive


def audit_event_list(*, filters: AuditFilters | None = None) -> QuerySet[AuditEvent]:
    """The log, newest first, narrowed by `filters`. Who may read it is the caller's check (admins of the
    organization, operators on the root host): the log holds nothing of another schema."""
    events = AuditEvent.objects.all()
    filters = filters or {}
    actor = filters.get("actor")
    if actor:
        events = events.filter(
            Q(actor_id=int(actor)) if actor.isdigit() else Q(actor_email__iexact=actor.strip())
        )
    action = filters.get("action")
    if action:
        events = (
            events.filter(action__startswith=action) if action.endswith(".") else events.filter(action=action)
        )
    if filters.get("since") is not None:
        events = events.filter(at__gte=filters["since"])
    if filters.get("until") is not None:
        events = events.filter(at__lt=filters["until"])
    return events.order_by("-at", "-id")


def _row(event: AuditEvent) -> tuple[Any, ...]:
    text = [
        event.action,
        str(event.actor_id or ""),
        event.actor_email,
        event.via,
        event.ip or "",
        event.user_agent,
        event.target_type,
        event.target_id,
        event.target_repr,
        json.dumps(event.changes, sort_keys=True, default=str),
    ]
    return (event.at.isoformat(), *(escape_cell(value) for value in text))


def audit_csv(events: QuerySet[AuditEvent]) -> Iterator[bytes]:
    """The events as CSV (header first), read in batches by a server-side cursor: memory stays flat."""

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        batch: list[tuple[Any, ...]] = []
        for event in events.iterator(chunk_size=CSV_BATCH):
            batch.append(_row(event))
            if len(batch) >= CSV_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    yield from csv_chunks(CSV_COLUMNS, batches())
