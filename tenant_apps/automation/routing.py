"""Lead routing: who owns a lead created without an owner.

- round_robin: the configured members in turn. The position lives in the RoutingState row, taken under a
  row lock, so concurrent creations spread evenly; inactive members are skipped.
- territory: the first territory (in order) that matches the lead, else round-robin among the members
  (when any), else nobody. Leads have no address fields: a territory matches on the lead's source, or on
  a tag "country:<code>" (kind country, e.g. value "de") or "region:<name>" (kind region, e.g. "emea").

Routing happens when "lead.created" is evaluated (rules_evaluate), before the rules, and once per lead
(RoutingAssignment): a redelivered job, or a lead whose owner was removed later, is not routed again.
The owner is set through lead_update, which writes the OWNER_CHANGE activity.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.users.models import User
from tenant_apps.automation.models import (
    RoutingAssignment,
    RoutingRule,
    RoutingState,
    RoutingStrategy,
    TerritoryKind,
)
from tenant_apps.automation.selectors import summary_invalidate
from tenant_apps.filtering.values import MAX_ID
from tenant_apps.leads.models import Lead, Source
from tenant_apps.leads.services import lead_update
from tenant_apps.records import normalize

MAX_MEMBERS = 100
MAX_TERRITORIES = 200


def _clean_member(value: Any, *, field: str, active: set[int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidInput(field, "A member id is required.")
    if value not in active:
        raise InvalidInput(field, "Not an active member of this organization.", code="unknown_member")
    return value


def _active_members(values: list[Any]) -> set[int]:
    ids = [
        value
        for value in values
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID
    ]
    return set(User.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))


def territory_tag(kind: str, value: str) -> str:
    return f"{kind}:{value}"


def _clean_territory(index: int, territory: Any, active: set[int]) -> dict[str, Any]:
    prefix = f"territories[{index}]"
    if not isinstance(territory, dict):
        raise InvalidInput(prefix, 'Expected {"kind": "country", "value": "de", "member": <id>}.')
    unknown = sorted(set(territory) - {"kind", "value", "member"})
    if unknown:
        raise InvalidInput(f"{prefix}.{unknown[0]}", "Unknown key; a territory has kind, value and member.")
    kind = territory.get("kind")
    if kind not in TerritoryKind.values:
        raise InvalidInput(f"{prefix}.kind", f"Expected one of {', '.join(TerritoryKind.values)}.")
    value = territory.get("value")
    if kind == TerritoryKind.SOURCE:
        if not isinstance(value, str) or value.lower() not in Source.values:
            raise InvalidInput(f"{prefix}.value", f"Expected one of {', '.join(Source.values)}.")
        value = value.lower()
    else:
        try:
            tags = (
                normalize.tags([territory_tag(kind, value)])
                if isinstance(value, str) and value.strip()
                else []
            )
        except InvalidInput:
            tags = []
        if len(tags) != 1:
            raise InvalidInput(f"{prefix}.value", f"A {kind} of 1 to {49 - len(kind)} characters.")
        value = tags[0].split(":", 1)[1]
    member = _clean_member(territory.get("member"), field=f"{prefix}.member", active=active)
    return {"kind": kind, "value": value, "member": member}


@transaction.atomic
def routing_configure(
    *, actor: User, strategy: Any, members: Any = None, territories: Any = None
) -> RoutingState:
    """Replace the routing settings (admins and managers): round_robin needs members; territory needs
    territories or members. The round-robin position restarts when the member list changes."""
    from tenant_apps.automation.services import require_manager

    require_manager(actor)
    if strategy not in RoutingStrategy.values:
        raise InvalidInput("strategy", f"Expected one of {', '.join(RoutingStrategy.values)}.")
    members = [] if members is None else members
    territories = [] if territories is None else territories
    if not isinstance(members, list) or len(members) > MAX_MEMBERS:
        raise InvalidInput("members", f"Expected a list of at most {MAX_MEMBERS} member ids.")
    if not isinstance(territories, list) or len(territories) > MAX_TERRITORIES:
        raise InvalidInput("territories", f"Expected a list of at most {MAX_TERRITORIES} territories.")
    given = [*members, *(t.get("member") for t in territories if isinstance(t, dict))]
    active = _active_members(given)
    cleaned_members = [
        _clean_member(value, field=f"members[{i}]", active=active) for i, value in enumerate(members)
    ]
    if len(set(cleaned_members)) != len(cleaned_members):
        raise InvalidInput("members", "Each member appears once.")
    cleaned_territories = [_clean_territory(i, territory, active) for i, territory in enumerate(territories)]
    if strategy == RoutingStrategy.ROUND_ROBIN and not cleaned_members:
        raise InvalidInput("members", "Round-robin needs at least one member.", code="required")
    if strategy == RoutingStrategy.TERRITORY and not (cleaned_territories or cleaned_members):
        raise InvalidInput(
            "territories", "Give territories (and members to share the rest).", code="required"
        )

    RoutingState.objects.get_or_create(pk=1)
    state = RoutingState.objects.select_for_update().get(pk=1)
    if state.members != cleaned_members:
        state.next_index = 0
    state.strategy, state.members, state.updated_by = strategy, cleaned_members, actor
    state.save()
    RoutingRule.objects.all().delete()
    RoutingRule.objects.bulk_create(
        RoutingRule(position=position, kind=t["kind"], value=t["value"], member_id=t["member"])
        for position, t in enumerate(cleaned_territories)
    )
    summary_invalidate()
    publish_on_commit(
        "routing.updated", record_id=1, actor_id=actor.pk, strategy=strategy, members=cleaned_members
    )
    return state


def _territory_matches(rule: RoutingRule, lead: Lead) -> bool:
    if rule.kind == TerritoryKind.SOURCE:
        return lead.source == rule.value
    return territory_tag(rule.kind, rule.value) in (lead.tags or [])


def _next_in_turn() -> int | None:
    """The next active member in round-robin order, advancing the position (under the state's row lock)."""
    state = RoutingState.objects.select_for_update().get(pk=1)
    count = len(state.members)
    if not count:
        return None
    active = set(User.objects.filter(pk__in=state.members, is_active=True).values_list("pk", flat=True))
    for step in range(count):
        position = (state.next_index + step) % count
        if state.members[position] in active:
            state.next_index = (position + 1) % count
            state.save(update_fields=["next_index", "updated_at"])
            return state.members[position]
    return None


def route_lead(*, lead_id: int, depth: int = 0) -> RoutingAssignment | None:
    """Give a live lead without an owner to the member routing picks, once per lead. Returns the
    assignment (None: routing off, lead owned or gone, already routed, or nobody to route to)."""
    from tenant_apps.automation.hooks import events_at_depth

    with transaction.atomic():
        lead = Lead.objects.alive().select_for_update().filter(pk=lead_id).first()
        if (
            lead is None
            or lead.owner_id is not None
            or RoutingAssignment.objects.filter(lead_id=lead.pk).exists()
        ):
            return None
        state = RoutingState.objects.filter(pk=1).first()
        if state is None or state.strategy == RoutingStrategy.OFF:
            return None
        member: int | None = None
        method, detail = "round_robin", {}
        if state.strategy == RoutingStrategy.TERRITORY:
            for rule in RoutingRule.objects.select_related("member").order_by("position"):
                if rule.member.is_active and _territory_matches(rule, lead):
                    member, method, detail = (
                        rule.member_id,
                        "territory",
                        {"kind": rule.kind, "value": rule.value},
                    )
                    break
        if member is None:
            member = _next_in_turn()
        if member is None:
            return None
        # routing is part of handling the creation, not a rule action: its events keep the event's depth
        with events_at_depth(depth):
            lead_update(lead_id=lead.pk, actor=None, changes={"owner_id": member})
        return RoutingAssignment.objects.create(
            lead_id=lead.pk, member_id=member, method=method, detail=detail
        )
