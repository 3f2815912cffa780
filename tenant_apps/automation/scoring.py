"""Lead scoring: a lead's score is the sum of the points of the organization's active scoring rules.

- field: `points` when the lead meets `condition` (the rule conditions' whitelist: source = ads, value >
  10000, tags contains "vip", ...);
- activity_count: `points` per activity of `activity_type` on the lead (within the last `within_days`
  when set), capped at `max_points` (in absolute value);
- recency: `points` when the lead had such an activity within the last `within_days`.

activity_type is one of EMAIL, CALL, MEETING, NOTE, TASK, or "" for any contact (email, call, meeting,
note). SYSTEM activities never count: a score change writes one, and must not change the score again.

score_recompute computes the score from scratch (never adds to the stored one), so running it twice gives
the same score. It runs after every lead and task event of the lead (see hooks), for every lead after a
scoring rule changes, and hourly for scores old enough that time-windowed rules may have moved.
Without any active scoring rule, scores are left as they are (members may set them by hand).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from shared_apps.core.db import connection
from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_text
from shared_apps.organizations.context import enqueue_in_organization
from shared_apps.users.models import User
from tenant_apps.activities.models import CONTACT_TYPES, LOGGABLE_TYPES, Activity
from tenant_apps.automation.exceptions import ScoringRuleNotFound
from tenant_apps.automation.models import LeadScore, ScoringKind, ScoringRule
from tenant_apps.automation.selectors import summary_invalidate
from tenant_apps.filtering.language import RULES, clean_condition, condition_holds
from tenant_apps.leads.models import Lead
from tenant_apps.leads.services import lead_score_set

MAX_POINTS = 10_000
MAX_SCORE = 1_000_000
MAX_WINDOW_DAYS = 3_650
MAX_SCORING_RULES = 200
RESCORE_BATCH = 500
# Scores computed longer ago than this are recomputed by the hourly refresh when a rule has a time window.
STALE_AFTER = timedelta(hours=20)
EDITABLE_FIELDS = (
    "name",
    "kind",
    "active",
    "condition",
    "activity_type",
    "within_days",
    "points",
    "max_points",
)


def _int(value: Any, *, field: str, low: int, high: int, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            field, f"A whole number from {low} to {high}" + (", or null." if nullable else ".")
        )
    return value


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """The whole rule checked together (what is required depends on the kind)."""
    kind = fields.get("kind")
    if kind not in ScoringKind.values:
        raise InvalidInput("kind", f"Expected one of {', '.join(ScoringKind.values)}.")
    cleaned: dict[str, Any] = {
        "name": clean_text(fields.get("name"), field="name", max_length=200, required=True),
        "kind": kind,
        "points": _int(fields.get("points"), field="points", low=-MAX_POINTS, high=MAX_POINTS),
        "condition": {},
        "activity_type": "",
        "within_days": None,
        "max_points": None,
    }
    active = fields.get("active", True)
    if not isinstance(active, bool):
        raise InvalidInput("active", "Expected true or false.")
    cleaned["active"] = active
    if kind == ScoringKind.FIELD:
        if not fields.get("condition"):
            raise InvalidInput("condition", "A field rule needs a condition.", code="required")
        cleaned["condition"] = clean_condition(
            fields["condition"], dialect=RULES, record_type="lead", prefix="condition"
        )
        for other in ("activity_type", "within_days", "max_points"):
            if fields.get(other) not in (None, ""):
                raise InvalidInput(other, "Only for activity_count and recency rules.")
        return cleaned
    if fields.get("condition"):
        raise InvalidInput("condition", "Only for field rules.")
    activity_type = fields.get("activity_type") or ""
    if activity_type and activity_type not in LOGGABLE_TYPES:
        raise InvalidInput(
            "activity_type", f'Expected one of {", ".join(LOGGABLE_TYPES)}, or "" for any contact.'
        )
    cleaned["activity_type"] = activity_type
    cleaned["within_days"] = _int(
        fields.get("within_days"),
        field="within_days",
        low=1,
        high=MAX_WINDOW_DAYS,
        nullable=kind == ScoringKind.ACTIVITY_COUNT,
    )
    if kind == ScoringKind.ACTIVITY_COUNT:
        cleaned["max_points"] = _int(
            fields.get("max_points"), field="max_points", low=0, high=MAX_SCORE, nullable=True
        )
    elif fields.get("max_points") is not None:
        raise InvalidInput("max_points", "Only for activity_count rules.")
    return cleaned


RESCORE_JOB = "tenant_apps.automation.jobs.rescore_leads"
# Rescoring many leads runs on the worker's last queue (rq takes a job from "default" first, always), and so
# does the rule work its score changes start: routing a new lead never waits behind a bulk rescore.
BULK_QUEUE = "low"


def _after_change() -> None:
    summary_invalidate()
    # every lead's score may have moved: recompute them all, in batches, after commit
    enqueue_in_organization(connection.schema_name, RESCORE_JOB, 0, queue=BULK_QUEUE)


@transaction.atomic
def scoring_rule_create(*, actor: User, **fields: Any) -> ScoringRule:
    """Add a scoring rule (admins and managers); every lead is rescored after commit."""
    from tenant_apps.automation.services import require_manager

    require_manager(actor)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "Unknown field.")
    if ScoringRule.objects.count() >= MAX_SCORING_RULES:
        raise InvalidInput("kind", f"At most {MAX_SCORING_RULES} scoring rules.", code="too_many")
    rule = ScoringRule.objects.create(**_clean(fields), created_by=actor)
    _after_change()
    publish_on_commit("scoring_rule.created", record_id=rule.pk, actor_id=actor.pk)
    return rule


@transaction.atomic
def scoring_rule_update(*, scoring_rule_id: int, actor: User, changes: dict[str, Any]) -> ScoringRule:
    """Change a scoring rule (admins and managers), checked whole as on creation; every lead is rescored."""
    from tenant_apps.automation.services import require_manager

    require_manager(actor)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "Unknown or read-only field.")
    rule = ScoringRule.objects.select_for_update().filter(pk=scoring_rule_id).first()
    if rule is None:
        raise ScoringRuleNotFound(id=scoring_rule_id)
    current = {field: getattr(rule, field) for field in EDITABLE_FIELDS}
    if "kind" in changes and changes["kind"] != rule.kind:
        # a new kind starts from its own parameters, not the old kind's
        current.update(condition={}, activity_type="", within_days=None, max_points=None)
    cleaned = _clean({**current, **changes})
    changed = sorted(key for key, value in cleaned.items() if getattr(rule, key) != value)
    if not changed:
        return rule
    for key in changed:
        setattr(rule, key, cleaned[key])
    rule.save()
    _after_change()
    publish_on_commit("scoring_rule.updated", record_id=rule.pk, actor_id=actor.pk, fields=changed)
    return rule


@transaction.atomic
def scoring_rule_delete(*, scoring_rule_id: int, actor: User) -> None:
    """Remove a scoring rule (admins and managers); every lead is rescored without it."""
    from tenant_apps.automation.services import require_manager

    require_manager(actor)
    deleted, _ = ScoringRule.objects.filter(pk=scoring_rule_id).delete()
    if not deleted:
        raise ScoringRuleNotFound(id=scoring_rule_id)
    _after_change()
    publish_on_commit("scoring_rule.deleted", record_id=scoring_rule_id, actor_id=actor.pk)


# ---- computing ---------------------------------------------------------------------------------------


def _activity_filter(rule: ScoringRule, now: datetime) -> Q:
    types = [rule.activity_type] if rule.activity_type else list(CONTACT_TYPES)
    window = Q(type__in=types, occurred_at__lte=now)
    if rule.within_days:
        window &= Q(occurred_at__gte=now - timedelta(days=rule.within_days))
    return window


def _capped(total: int, cap: int | None) -> int:
    if cap is None:
        return total
    return max(-cap, min(cap, total))


def score_compute(*, lead: Lead, rules: list[ScoringRule], now: datetime) -> tuple[int, list[dict[str, Any]]]:
    """The lead's score and its breakdown (one entry per rule, in order), from the lead's current fields
    and its activities: one query for all activity-based rules."""
    aggregates: dict[str, Any] = {}
    for rule in rules:
        if rule.kind == ScoringKind.ACTIVITY_COUNT:
            aggregates[f"r{rule.pk}"] = Count("id", filter=_activity_filter(rule, now))
        elif rule.kind == ScoringKind.RECENCY:
            aggregates[f"r{rule.pk}"] = Max("occurred_at", filter=_activity_filter(rule, now))
    figures = Activity.objects.filter(lead=lead).aggregate(**aggregates) if aggregates else {}
    breakdown: list[dict[str, Any]] = []
    for rule in rules:
        entry: dict[str, Any] = {"rule_id": rule.pk, "name": rule.name, "kind": rule.kind}
        if rule.kind == ScoringKind.FIELD:
            matched = condition_holds(rule.condition, lead, dialect=RULES, record_type="lead", now=now)
            entry.update(points=rule.points if matched else 0, matched=matched)
        elif rule.kind == ScoringKind.ACTIVITY_COUNT:
            count = figures[f"r{rule.pk}"] or 0
            entry.update(points=_capped(count * rule.points, rule.max_points), count=count)
        else:
            last = figures[f"r{rule.pk}"]
            entry.update(
                points=rule.points if last else 0, last_activity_at=last.isoformat() if last else None
            )
        breakdown.append(entry)
    total = sum(entry["points"] for entry in breakdown)
    return max(-MAX_SCORE, min(MAX_SCORE, total)), breakdown


def score_recompute(*, lead_id: int, depth: int = 0, now: datetime | None = None) -> LeadScore | None:
    """Recompute a live lead's score from scratch and store it with its breakdown; when it moved, write it
    on the lead through lead_score_set (no timeline entry; a lead.updated event that rules may answer, at
    the depth of the event that caused the recomputation)."""
    from tenant_apps.automation.hooks import events_at_depth

    now = now or timezone.now()
    rules = list(ScoringRule.objects.filter(active=True).order_by("id"))
    with transaction.atomic():
        lead = Lead.objects.alive().select_for_update().filter(pk=lead_id).first()
        if lead is None:
            return None
        if not rules:
            LeadScore.objects.filter(lead_id=lead.pk).delete()
            return None
        score, breakdown = score_compute(lead=lead, rules=rules, now=now)
        stored, _ = LeadScore.objects.update_or_create(
            lead_id=lead.pk, defaults={"score": score, "breakdown": breakdown, "computed_at": now}
        )
        if lead.score != score:
            with events_at_depth(depth):
                lead_score_set(lead_id=lead.pk, score=score)
    return stored


def rescore_batch(*, after_id: int = 0, limit: int | None = None) -> list[int]:
    """Recompute the next `limit` (RESCORE_BATCH) live leads by id after `after_id`; returns their ids."""
    limit = limit or RESCORE_BATCH
    from tenant_apps.automation.hooks import work_on_queue

    lead_ids = list(
        Lead.objects.alive().filter(pk__gt=after_id).order_by("pk").values_list("pk", flat=True)[:limit]
    )
    with work_on_queue(BULK_QUEUE):  # the work the new scores start waits behind interactive jobs
        for lead_id in lead_ids:
            score_recompute(lead_id=lead_id)
    return lead_ids


def leads_rescore(*, after_id: int = 0) -> int:
    """One batch of a full rescore (after a scoring rule changed); queues the next batch while leads
    remain. Returns how many leads this batch rescored."""
    lead_ids = rescore_batch(after_id=after_id)
    if len(lead_ids) == RESCORE_BATCH:
        enqueue_in_organization(connection.schema_name, RESCORE_JOB, lead_ids[-1], queue=BULK_QUEUE)
    return len(lead_ids)


def stale_scores_refresh(*, now: datetime | None = None, limit: int = 2_000) -> int:
    """Recompute scores old enough for a time-windowed rule (within_days) to have moved; hourly."""
    now = now or timezone.now()
    if not ScoringRule.objects.filter(active=True, within_days__isnull=False).exists():
        return 0
    stale = (
        LeadScore.objects.filter(computed_at__lt=now - STALE_AFTER)
        .filter(lead_id__in=Lead.objects.alive().values("pk"))
        .order_by("computed_at")
        .values_list("lead_id", flat=True)[:limit]
    )
    from tenant_apps.automation.hooks import work_on_queue

    lead_ids = list(stale)
    with work_on_queue(BULK_QUEUE):
        for lead_id in lead_ids:
            score_recompute(lead_id=lead_id, now=now)
    return len(lead_ids)
