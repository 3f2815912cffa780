"""Reads on automation. Rules, routing and scoring are visible to every member; changing them is for admins
and managers (see services)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet

from shared_apps.organizations.context import (
    cache_changed,
    cache_get,
    current_organization,
    generation_memo,
    kept_in_process,
    organization_context,
)
from shared_apps.users.models import User
from tenant_apps.automation.exceptions import RuleNotFound, ScoringRuleNotFound
from tenant_apps.automation.models import (
    LeadScore,
    RoutingRule,
    RoutingState,
    RoutingStrategy,
    Rule,
    RuleRun,
    ScoringRule,
    TriggerType,
)
from tenant_apps.leads.models import Lead
from tenant_apps.leads.selectors import lead_get

# What the event hook needs to know to skip work, read inside every publishing transaction. Keys of the
# default cache carry the schema, so this is per organization. Entries live under a generation that every
# change replaces (right away and again on commit): a reader racing a change can only fill an entry that
# nobody reads any more, never bring a stale summary back.
GENERATION_KEY = "automation:summary:generation"
kept_in_process(GENERATION_KEY)  # every lead write asks which rules listen
SUMMARY_TTL = 3600


def rule_list(*, filters: dict[str, Any] | None = None) -> QuerySet[Rule]:
    """Rules that are not deleted. `filters`: active (bool), trigger_type."""
    rules = Rule.objects.filter(deleted_at__isnull=True)
    filters = filters or {}
    if filters.get("active") is not None:
        rules = rules.filter(active=filters["active"])
    if filters.get("trigger_type"):
        rules = rules.filter(trigger_type=filters["trigger_type"])
    return rules


def rule_get(*, rule_id: int) -> Rule:
    rule = Rule.objects.filter(pk=rule_id, deleted_at__isnull=True).first()
    if rule is None:
        raise RuleNotFound(id=rule_id)
    return rule


def rule_run_list(*, rule: Rule, status: str | None = None, lead_id: int | None = None) -> QuerySet[RuleRun]:
    """The rule's runs (newest first is the API's cursor ordering)."""
    runs = RuleRun.objects.filter(rule=rule)
    if status:
        runs = runs.filter(status=status)
    if lead_id:
        runs = runs.filter(lead_id=lead_id)
    return runs


def routing_get() -> tuple[RoutingState, list[RoutingRule]]:
    """The routing settings (off until configured) and the territories in order."""
    state = RoutingState.objects.filter(pk=1).first() or RoutingState(pk=1)
    return state, list(RoutingRule.objects.order_by("position"))


def scoring_rule_list() -> QuerySet[ScoringRule]:
    return ScoringRule.objects.all()


def scoring_rule_get(*, scoring_rule_id: int) -> ScoringRule:
    rule = ScoringRule.objects.filter(pk=scoring_rule_id).first()
    if rule is None:
        raise ScoringRuleNotFound(id=scoring_rule_id)
    return rule


def lead_score_get(*, actor: User | None, lead_id: int) -> tuple[Lead, LeadScore | None]:
    """A live lead the actor may see, with its last computed score (None before any scoring rule applied
    to it)."""
    lead = lead_get(lead_id=lead_id, actor=actor)
    return lead, LeadScore.objects.filter(lead_id=lead.pk).first()


def automation_summary() -> dict[str, Any]:
    """{"triggers": [active rules' trigger types], "watched": [fields field_changed rules watch], "scoring":
    any active scoring rule, "routing": routing on} for the active organization, cached."""
    generation = cache_get(GENERATION_KEY)  # the process's copy when warm
    if generation is None:
        generation = uuid.uuid4().hex
        cache.add(GENERATION_KEY, generation, timeout=None)
        generation = cache.get(GENERATION_KEY) or generation
    key = f"automation:summary:{generation}"
    # a summary under a generation never changes: the process keeps it (a new generation for every change)
    summary = generation_memo(key, lambda: _summary_load(key))
    return {name: list(value) if isinstance(value, list) else value for name, value in summary.items()}


def _summary_load(key: str) -> dict[str, Any]:
    summary: dict[str, Any] | None = cache.get(key)
    if summary is None:
        active = Rule.objects.filter(active=True, deleted_at__isnull=True)
        summary = {
            "triggers": sorted(set(active.values_list("trigger_type", flat=True))),
            # the fields field_changed rules watch (lead.updated names its changed fields)
            "watched": sorted(
                {
                    trigger.get("field")
                    for trigger in active.filter(trigger_type=TriggerType.FIELD_CHANGED).values_list(
                        "trigger", flat=True
                    )
                    if isinstance(trigger, dict) and trigger.get("field")
                }
            ),
            "scoring": ScoringRule.objects.filter(active=True).exists(),
            "routing": RoutingState.objects.filter(pk=1).exclude(strategy=RoutingStrategy.OFF).exists(),
        }
        cache.set(key, summary, timeout=SUMMARY_TTL)
    return summary


def routing_on() -> bool:
    """Whether new leads without an owner are routed (cached with the summary)."""
    return bool(automation_summary()["routing"])


def summary_invalidate() -> None:
    """Forget the summary now (this transaction's own events see the change) and again on commit (so a
    reader that ran before the commit cannot keep the old one)."""
    organization = current_organization()

    def forget() -> None:
        with organization_context(organization):
            cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
            cache_changed(GENERATION_KEY)

    forget()
    transaction.on_commit(forget)
