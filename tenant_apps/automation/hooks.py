"""How automation hears about lead changes: a subscriber of lead and task events that queues, once the
change commits, the rule evaluation (and routing) and the score recomputation of the lead.

It subscribes *inside* the publishing transaction (subscribe_in_transaction) for the depth, which an
after-commit subscriber cannot know reliably: a rule's actions run with `events_at_depth(depth + 1)`; an
event published by them is queued with that depth, whatever transaction the actions run in (an after-commit
callback may run long after the context is gone, e.g. when the caller holds an outer transaction).
The events carry their change (a lead.updated its `changes`, {field: [old, new]}), so nothing is re-read.

Nothing is queued before the commit (django-rq enqueues on commit), so rolled-back changes start nothing.
The hook never raises: a failure here must not undo the change it was told about.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any

from django_tenants.utils import get_public_schema_name
from rq import Retry

from shared_apps.core.events import DomainEvent, subscribe_in_transaction
from shared_apps.organizations.context import enqueue_in_organization
from tenant_apps.automation.models import TriggerType
from tenant_apps.automation.selectors import automation_summary
from tenant_apps.automation.triggers import TOPIC_TRIGGERS
from tenant_apps.filtering.language import record_snapshot
from tenant_apps.leads.models import Lead

logger = logging.getLogger(__name__)

_depth: ContextVar[int] = ContextVar("automation_event_depth", default=0)
_queue: ContextVar[str] = ContextVar("automation_event_queue", default="default")
# rq delivers at least once and retries a failed job; every job here is idempotent.
RETRY = Retry(max=3, interval=[10, 60, 300])
# Events that never change what a score counts.
NO_RESCORE = frozenset({"lead.deleted", "lead.purged"})
PERIODIC_TOPICS = frozenset({"lead.idle", "lead.task_overdue"})


@contextmanager
def _setting(var: ContextVar[Any], value: Any) -> Iterator[None]:
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def events_at_depth(depth: int) -> AbstractContextManager[None]:
    """Events published inside this block are evaluated at `depth` (rule actions: their own depth + 1)."""
    return _setting(_depth, depth)


def current_depth() -> int:
    return _depth.get()


def work_on_queue(queue: str) -> AbstractContextManager[None]:
    """The work events published inside this block start is queued on `queue` (bulk work: "low")."""
    return _setting(_queue, queue)


def _lead_of(event: DomainEvent) -> int | None:
    if event.topic.startswith("lead."):
        return event.record_id
    if event.topic.startswith("task.") and event.data.get("anchor_type") == "lead":
        anchor = event.data.get("anchor_id")
        return anchor if isinstance(anchor, int) else None
    return None


def _rules_may_answer(topic: str, summary: dict[str, Any], fields: Any = None) -> bool:
    if topic not in TOPIC_TRIGGERS or topic in PERIODIC_TOPICS:
        return False
    if topic == "lead.created" and summary["routing"]:
        return True
    triggers = set(TOPIC_TRIGGERS[topic]) & set(summary["triggers"])
    if topic == "lead.updated" and triggers == {TriggerType.FIELD_CHANGED} and "watched" in summary:
        # only field_changed rules answer it: none does unless it watches a field that changed
        return bool(set(fields or ()) & set(summary["watched"]))
    return bool(triggers)


def new_lead_followed_up() -> bool:
    """Whether a lead.created event queues work that may change the new lead (a rule answering it, routing,
    scoring), as _queue_work decides: the lead API's create reads the lead back only then."""
    summary = automation_summary()
    return _rules_may_answer("lead.created", summary) or bool(summary["scoring"])


def _rescores(event: DomainEvent) -> bool:
    if event.topic in NO_RESCORE:
        return False
    # the score's own write (by nobody): recomputing would find the same score. A member's hand-set score
    # is recomputed, and so replaced, while scoring rules are active.
    own_write = event.actor_id is None and list(event.data.get("fields") or []) == ["score"]
    return not (event.topic == "lead.updated" and own_write)


def _snapshot(lead_id: int) -> dict[str, Any] | None:
    """The lead as the event left it, read in the publishing transaction: rule conditions are checked
    against it, not against the lead when the job runs (a later change must not decide an earlier event)."""
    lead = Lead.objects.filter(pk=lead_id).first()
    return record_snapshot(lead, record_type="lead") if lead is not None else None


def on_event(event: DomainEvent) -> None:
    on_events([event])


def on_events(events: list[DomainEvent]) -> None:
    """on_event for many events of one transaction: the organization's automation summary is read once."""
    summary: dict[str, Any] | None = None
    for event in events:
        try:
            if event.schema_name == get_public_schema_name() or _lead_of(event) is None:
                continue
            summary = summary if summary is not None else automation_summary()
            _queue_work(event, summary)
        except Exception:  # never undo the publisher's change over automation
            logger.exception("automation could not queue work for %s of %s", event.topic, event.record_id)


def _queue_work(event: DomainEvent, summary: dict[str, Any]) -> None:
    lead_id = _lead_of(event)
    if lead_id is None:
        return
    depth = current_depth()
    queue = _queue.get()
    fields = event.data.get("fields") if isinstance(event.data.get("fields"), list) else None
    if _rules_may_answer(event.topic, summary, fields):
        enqueue_in_organization(
            event.schema_name,
            "tenant_apps.automation.jobs.evaluate_rules",
            event.topic,
            lead_id,
            depth,
            uuid.uuid4().hex,  # the event's identity for RuleRun: the same in every delivery of this job
            dict(event.data),
            _snapshot(lead_id),
            queue=queue,
            retry=RETRY,
        )
    if summary["scoring"] and _rescores(event):
        enqueue_in_organization(
            event.schema_name,
            "tenant_apps.automation.jobs.recompute_score",
            lead_id,
            depth,
            queue=queue,
            retry=RETRY,
        )


_subscribed: list[Any] = []


def subscribe_to_events() -> None:
    """Called once from AppConfig.ready()."""
    if not _subscribed:
        _subscribed.append(subscribe_in_transaction("lead.", on_event, many=on_events))
        _subscribed.append(subscribe_in_transaction("task.", on_event, many=on_events))
