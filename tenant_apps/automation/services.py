"""Rules: their writes (checked against the whitelists), and applying them to lead events.

How a rule runs (rule_apply): in one transaction, with the lead locked, its conditions are checked
against the lead as the event left it (the snapshot the event's job carries; the periodic events: the
lead now); then a RuleRun keyed by (rule, event key) is inserted (a second
delivery of the same event finds it and does nothing) and the actions run through the owning services,
each written on the lead's timeline. If an action is refused, every action of that run is undone and the
run is recorded as failed with the reason.

Loops: actions run with `events_at_depth(depth + 1)`, so the events they publish are evaluated one level
deeper. At MAX_DEPTH a matching rule does not act: its run is recorded as loop_stopped and the admins
are notified (once per rule version).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_text
from shared_apps.users.models import Role, User
from tenant_apps.activities.models import ActivityType
from tenant_apps.activities.services import activity_record
from tenant_apps.automation.actions import ActionFailed, Context, action_run, clean_actions
from tenant_apps.automation.exceptions import AutomationForbidden, RuleNotFound
from tenant_apps.automation.hooks import events_at_depth
from tenant_apps.automation.models import Match, Rule, RuleRun, RunStatus, TriggerType
from tenant_apps.automation.routing import route_lead
from tenant_apps.automation.selectors import summary_invalidate
from tenant_apps.automation.triggers import TOPIC_TRIGGERS, RuleEvent, clean_trigger, trigger_matches
from tenant_apps.filtering.language import (
    RULES,
    clean_conditions,
    conditions_hold,
    conditions_q,
    snapshot_record,
)
from tenant_apps.leads.models import IN_OPEN_PIPELINE, Lead
from tenant_apps.tasks.models import Task, TaskStatus

logger = logging.getLogger(__name__)

# Events caused by rule actions are evaluated up to this depth; a rule matching deeper is stopped.
MAX_DEPTH = 3
# Per rule and periodic run: the rest waits for the next run.
PERIODIC_BATCH = 500
EDITABLE_FIELDS = ("name", "active", "trigger", "match", "conditions", "actions")


def require_manager(actor: User) -> None:
    """Rules, routing and scoring act on everyone's leads: admins and managers change them."""
    if actor.role not in (Role.ADMIN, Role.MANAGER):
        raise AutomationForbidden()


def _clean_match(value: Any) -> str:
    if value not in Match.values:
        raise InvalidInput("match", 'Expected "all" or "any".')
    return str(value)


def _clean_active(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("active", "Expected true or false.")
    return value


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    if "name" in fields:
        cleaned["name"] = clean_text(fields["name"], field="name", max_length=200, required=True)
    if "active" in fields:
        cleaned["active"] = _clean_active(fields["active"])
    if "trigger" in fields:
        cleaned["trigger"] = clean_trigger(fields["trigger"])
        cleaned["trigger_type"] = cleaned["trigger"]["type"]
    if "match" in fields:
        cleaned["match"] = _clean_match(fields["match"])
    if "conditions" in fields:
        conditions = [] if fields["conditions"] is None else fields["conditions"]
        cleaned["conditions"] = clean_conditions(conditions, dialect=RULES, record_type="lead")
    if "actions" in fields:
        cleaned["actions"] = clean_actions(fields["actions"])
    return cleaned


@transaction.atomic
def rule_create(
    *,
    actor: User,
    name: Any,
    trigger: Any,
    actions: Any,
    conditions: Any = None,
    match: Any = Match.ALL,
    active: Any = True,
) -> Rule:
    """Save a rule (admins and managers). Trigger, conditions and actions must pass the whitelists; an
    error names the part, e.g. `conditions[1].op` or `actions[0].type`."""
    require_manager(actor)
    cleaned = _clean(
        {
            "name": name,
            "active": active,
            "trigger": trigger,
            "match": match,
            "conditions": [] if conditions is None else conditions,
            "actions": actions,
        }
    )
    rule = Rule.objects.create(**cleaned, created_by=actor)
    summary_invalidate()
    publish_on_commit("rule.created", record_id=rule.pk, actor_id=actor.pk, trigger_type=rule.trigger_type)
    return rule


def _locked(rule_id: int) -> Rule:
    rule = Rule.objects.select_for_update().filter(pk=rule_id, deleted_at__isnull=True).first()
    if rule is None:
        raise RuleNotFound(id=rule_id)
    return rule


@transaction.atomic
def rule_update(*, rule_id: int, actor: User, changes: dict[str, Any]) -> Rule:
    """Change a rule (admins and managers); each part given is checked as on creation. Runs already made
    keep their record; events from now on see the new rule."""
    require_manager(actor)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "Unknown or read-only field.")
    cleaned = _clean(changes)
    rule = _locked(rule_id)
    changed = sorted(key for key, value in cleaned.items() if getattr(rule, key) != value)
    if not changed:
        return rule
    for key in changed:
        setattr(rule, key, cleaned[key])
    rule.save()
    summary_invalidate()
    publish_on_commit("rule.updated", record_id=rule.pk, actor_id=actor.pk, fields=changed)
    return rule


@transaction.atomic
def rule_delete(*, rule_id: int, actor: User) -> Rule:
    """Delete a rule (admins and managers): it stops at once; its run log stays."""
    require_manager(actor)
    rule = _locked(rule_id)
    rule.deleted_at = timezone.now()
    rule.active = False
    rule.save(update_fields=["deleted_at", "active", "updated_at"])
    summary_invalidate()
    publish_on_commit("rule.deleted", record_id=rule.pk, actor_id=actor.pk)
    return rule


# ---- applying rules ----------------------------------------------------------------------------------


def _report_loop(rule: Rule, run: RuleRun) -> None:
    from tenant_apps.notifications.services import notify

    logger.warning("rule %s stopped at depth %s on lead %s (a loop?)", rule.pk, run.depth, run.lead_id)
    version = int(rule.updated_at.timestamp())
    for admin in User.objects.filter(role=Role.ADMIN, is_active=True).order_by("id"):
        notify(
            recipient=admin,
            kind="automation.loop_stopped",
            title=f'Rule "{rule.name}" was stopped: it keeps triggering itself',
            body=(
                f"Rule {rule.pk} matched an event caused by rules {run.depth} levels deep (on lead "
                f"{run.lead_id}); LeadPulse stops rule chains at {MAX_DEPTH} levels. Check its trigger and "
                "actions, and the other rules reacting to them."
            ),
            data={"rule_id": rule.pk, "lead_id": run.lead_id, "run_id": run.pk, "depth": run.depth},
            # once per version of the rule: an edit re-arms the warning
            key=f"automation-loop:{rule.pk}:{version}",
        )


def rule_apply(
    *, rule: Rule, event: RuleEvent, task_id: int | None = None, now: datetime | None = None
) -> RuleRun | None:
    """Apply one rule whose trigger answered `event`: at most once per (rule, event key), only while the
    lead is live and meets the conditions, all of its actions or none. Returns the run (None: no match or
    already run)."""
    now = now or timezone.now()
    with transaction.atomic():
        lead = Lead.objects.alive().select_for_update().filter(pk=event.lead_id).first()
        if lead is None:
            return None
        # the lead as the event left it (a change made since is an event of its own)
        subject = lead if event.snapshot is None else snapshot_record(event.snapshot, record_type="lead")
        if not conditions_hold(
            rule.conditions, subject, match=rule.match, dialect=RULES, record_type="lead", now=now
        ):
            return None
        if RuleRun.objects.filter(rule=rule, event_key=event.key).exists():
            return None
        stopped = event.depth >= MAX_DEPTH
        try:
            with transaction.atomic():
                run = RuleRun.objects.create(
                    rule=rule,
                    lead_id=lead.pk,
                    task_id=task_id,
                    event_key=event.key,
                    topic=event.topic,
                    depth=event.depth,
                    status=RunStatus.LOOP_STOPPED if stopped else RunStatus.DONE,
                )
        except IntegrityError:  # the same event delivered twice at once: the other delivery runs it
            return None
        if stopped:
            _report_loop(rule, run)
            return run
        context = Context(rule=rule, run=run, event=event, lead=lead, now=now)
        results: list[dict[str, Any]] = []
        try:
            with transaction.atomic(), events_at_depth(event.depth + 1):
                for index, action in enumerate(rule.actions):
                    results.append(action_run(context, action, index=index))
        except ActionFailed as error:
            run.status, run.error, results = RunStatus.FAILED, error.message, []
            activity_record(
                lead=lead,
                type=ActivityType.SYSTEM,
                actor_id=None,
                subject=f'Rule "{rule.name}" failed: {error.message}'[:300],
                metadata={
                    "event": "rule_failed",
                    "rule_id": rule.pk,
                    "rule_name": rule.name,
                    "run_id": run.pk,
                    "trigger": event.topic,
                    "error": error.message,
                },
            )
        run.results = results
        run.save(update_fields=["status", "error", "results"])
    return run


def rules_evaluate(*, event: RuleEvent) -> dict[str, Any]:
    """Everything a lead event starts: routing first (a new lead without owner), then each active rule
    whose trigger answers the event, in creation order."""
    if not Lead.objects.alive().filter(pk=event.lead_id).exists():
        return {"lead": "gone"}
    outcome: dict[str, Any] = {"runs": {}}
    if event.topic == "lead.created":
        assignment = route_lead(lead_id=event.lead_id, depth=event.depth)
        outcome["routed_to"] = assignment.member_id if assignment else None
        if assignment is not None and event.snapshot is not None:
            # routing is part of the creation: the rules see the new lead with the owner it was given
            event = replace(event, snapshot={**event.snapshot, "owner_id": assignment.member_id})
    rules = Rule.objects.filter(
        active=True, deleted_at__isnull=True, trigger_type__in=TOPIC_TRIGGERS.get(event.topic, ())
    ).order_by("id")
    for rule in rules:
        if trigger_matches(rule.trigger, event):
            run = rule_apply(rule=rule, event=event)
            if run is not None:
                outcome["runs"][rule.pk] = run.status
    return outcome


def _idle_candidates(rule: Rule, now: datetime) -> Any:
    cutoff = now - timedelta(days=rule.trigger["days"])
    already = RuleRun.objects.filter(
        rule=rule, lead_id=OuterRef("pk"), created_at__gte=OuterRef("idle_since")
    )
    return (
        Lead.objects.alive()
        .filter(IN_OPEN_PIPELINE)
        .annotate(idle_since=Coalesce("last_contacted_at", "created_at"))
        .filter(idle_since__lt=cutoff)
        .filter(conditions_q(rule.conditions, match=rule.match, dialect=RULES, record_type="lead", now=now))
        .filter(~Exists(already))
        .order_by("idle_since", "id")[:PERIODIC_BATCH]
    )


def _overdue_candidates(rule: Rule, now: datetime) -> Any:
    already = RuleRun.objects.filter(rule=rule, task_id=OuterRef("pk"), created_at__gte=OuterRef("due_at"))
    leads = Lead.objects.alive().filter(
        conditions_q(rule.conditions, match=rule.match, dialect=RULES, record_type="lead", now=now)
    )
    return (
        Task.objects.filter(status=TaskStatus.OPEN, due_at__lt=now, lead__in=leads.values("pk"))
        .filter(~Exists(already))
        .order_by("due_at", "id")[:PERIODIC_BATCH]
    )


def time_triggers_evaluate(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic triggers: leads open and not contacted (or created) for an idle rule's days, and open
    tasks on live leads past their due time. Each fires once per idle stretch / due time (the event key
    carries it), so running this again, or concurrently, acts once."""
    now = now or timezone.now()
    counts = {"idle": 0, "task_overdue": 0}
    rules = Rule.objects.filter(
        active=True, deleted_at__isnull=True, trigger_type__in=[TriggerType.IDLE, TriggerType.TASK_OVERDUE]
    ).order_by("id")
    for rule in rules:
        for event, task_id in _periodic_events(rule, now):
            try:
                ran = rule_apply(rule=rule, event=event, task_id=task_id, now=now) is not None
            except Exception:  # one broken lead must not hold back every other one, run after run
                logger.exception("rule %s failed on lead %s (%s)", rule.pk, event.lead_id, event.key)
                continue
            counts[rule.trigger_type] += ran
    return counts


def _periodic_events(rule: Rule, now: datetime) -> list[tuple[RuleEvent, int | None]]:
    """The events a periodic rule answers now: (event, overdue task id)."""
    if rule.trigger_type == TriggerType.IDLE:
        events: list[tuple[RuleEvent, int | None]] = []
        for lead in _idle_candidates(rule, now):
            since = lead.idle_since.isoformat()
            event = RuleEvent(
                topic="lead.idle",
                lead_id=lead.pk,
                key=f"idle:{lead.pk}:{since}",
                data={"days": rule.trigger["days"], "idle_since": since},
            )
            events.append((event, None))
        return events
    return [
        (
            RuleEvent(
                topic="lead.task_overdue",
                lead_id=task.lead_id or 0,
                key=f"task_overdue:{task.pk}:{task.due_at.isoformat() if task.due_at else ''}",
                data={"task_id": task.pk, "title": task.title},
            ),
            task.pk,
        )
        for task in _overdue_candidates(rule, now)
    ]
