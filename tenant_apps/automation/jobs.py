"""rq entry points. Functions under tenant_apps run in the schema their job was enqueued for (see
shared_apps.organizations.jobs); each calls one service and is safe to run twice (rq delivers at least
once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rq import get_current_job

from tenant_apps.automation import scoring, services
from tenant_apps.automation.hooks import work_on_queue
from tenant_apps.automation.triggers import RuleEvent


def _own_queue() -> str:
    """The queue this job came from: the work its changes start follows it (bulk work stays on "low")."""
    job = get_current_job()
    return job.origin if job is not None else "default"


def evaluate_rules(
    topic: str,
    lead_id: int,
    depth: int,
    event_key: str,
    data: dict[str, Any],
    snapshot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """After a lead event (queued by hooks): routing for a new lead, then the rules answering the event,
    their conditions checked against `snapshot` (the lead at the event). A rule runs once per event_key,
    however often this job is delivered."""
    event = RuleEvent(topic=topic, lead_id=lead_id, key=event_key, depth=depth, data=data, snapshot=snapshot)
    with work_on_queue(_own_queue()):
        return services.rules_evaluate(event=event)


def recompute_score(lead_id: int, depth: int = 0) -> int | None:
    """After a lead or task event of the lead: its score from scratch (twice gives the same score)."""
    with work_on_queue(_own_queue()):
        stored = scoring.score_recompute(lead_id=lead_id, depth=depth)
    return stored.score if stored else None


def rescore_leads(after_id: int = 0) -> int:
    """After a scoring rule changed: every live lead, one batch per job, each batch queueing the next."""
    return scoring.leads_rescore(after_id=after_id)


def evaluate_time_triggers(now: datetime | None = None) -> dict[str, int]:
    """Every 10 minutes for every active organization (config/cron.py): idle and task-overdue rules."""
    return services.time_triggers_evaluate(now=now)


def refresh_stale_scores(now: datetime | None = None) -> int:
    """Hourly for every active organization: scores that time-windowed scoring rules may have moved."""
    return scoring.stale_scores_refresh(now=now)
