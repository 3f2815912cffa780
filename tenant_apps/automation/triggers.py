"""What starts a rule: the trigger types, their parameters, and which events each one answers.

    {"type": "lead_created"}
    {"type": "stage_entered", "stage": "QUALIFIED"}
    {"type": "field_changed", "field": "source", "from": "web", "to": "ads"}   (from/to optional)
    {"type": "idle", "days": 14}           no contact (or creation) for 14 days; checked periodically
    {"type": "task_overdue"}                an open task on the lead passed its due time; checked periodically

field_changed on `tags`: "to" means the tag was added, "from" that it was removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared_apps.core.errors import InvalidInput
from tenant_apps.automation.models import TriggerType
from tenant_apps.filtering.fields import FIELDS, Field, FieldType
from tenant_apps.filtering.language import RULES, parse_scalar
from tenant_apps.filtering.values import BadValue, show
from tenant_apps.leads.models import Stage

MAX_IDLE_DAYS = 365
LEAD_FIELDS = FIELDS["lead"]
# Fields a field_changed trigger may watch (the rest never change after creation, or are timestamps).
WATCHABLE = (
    "name",
    "email",
    "phone",
    "company",
    "currency",
    "source",
    "stage",
    "value",
    "score",
    "owner",
    "tags",
)

# Lead events (topics) and the trigger types they may start.
TOPIC_TRIGGERS: dict[str, tuple[str, ...]] = {
    "lead.created": (TriggerType.LEAD_CREATED,),
    "lead.stage_changed": (TriggerType.STAGE_ENTERED, TriggerType.FIELD_CHANGED),
    "lead.owner_changed": (TriggerType.FIELD_CHANGED,),
    "lead.updated": (TriggerType.FIELD_CHANGED,),
    # published by the periodic scan (services.time_triggers_evaluate), not by the leads app
    "lead.idle": (TriggerType.IDLE,),
    "lead.task_overdue": (TriggerType.TASK_OVERDUE,),
}


@dataclass(frozen=True)
class RuleEvent:
    """What happened to a lead, as a rule sees it. `key` identifies the event across job deliveries;
    `depth` counts the rule actions that led to it (0: a person or the scheduler). `snapshot`: the lead's
    condition fields as the event left them (filtering.language.record_snapshot); None for the periodic
    events, which are about the lead as it is now."""

    topic: str
    lead_id: int
    key: str
    depth: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    snapshot: dict[str, Any] | None = None


def _error(key: str, message: str) -> InvalidInput:
    return InvalidInput(f"trigger.{key}" if key else "trigger", message, code="invalid_trigger")


def _only(trigger: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(trigger) - allowed - {"type"})
    if unknown:
        raise _error(unknown[0], f"Unknown parameter for {trigger['type']}.")


def clean_trigger(trigger: Any) -> dict[str, Any]:
    """The trigger checked against the whitelist; errors name `trigger.<key>`. Returns it as stored."""
    if not isinstance(trigger, dict):
        raise _error("", 'Expected an object such as {"type": "lead_created"}.')
    kind = trigger.get("type")
    if not isinstance(kind, str) or kind not in TriggerType.values:
        raise _error("type", f"Unknown trigger {show(kind)}; use one of {', '.join(TriggerType.values)}.")
    if kind in (TriggerType.LEAD_CREATED, TriggerType.TASK_OVERDUE):
        _only(trigger, set())
        return {"type": kind}
    if kind == TriggerType.STAGE_ENTERED:
        _only(trigger, {"stage"})
        stage = trigger.get("stage")
        if not isinstance(stage, str) or stage.upper() not in Stage.values:
            raise _error("stage", f"Expected one of {', '.join(Stage.values)}.")
        return {"type": kind, "stage": stage.upper()}
    if kind == TriggerType.IDLE:
        _only(trigger, {"days"})
        days = trigger.get("days")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_IDLE_DAYS:
            raise _error("days", f"A whole number of days from 1 to {MAX_IDLE_DAYS}.")
        return {"type": kind, "days": days}
    _only(trigger, {"field", "from", "to"})
    name = trigger.get("field")
    if not isinstance(name, str) or name not in WATCHABLE:
        raise _error("field", f"Unknown field {show(name)}; use one of {', '.join(WATCHABLE)}.")
    cleaned: dict[str, Any] = {"type": kind, "field": name}
    for end in ("from", "to"):
        if end in trigger:
            try:
                parsed = parse_scalar(RULES, LEAD_FIELDS[name], trigger[end])
            except BadValue as error:
                raise _error(end, f"{name} expects {error}.") from None
            cleaned[end] = str(parsed) if isinstance(parsed, Decimal) else parsed
    return cleaned


# ---- matching events ---------------------------------------------------------------------------------


def _same(spec: Field, left: Any, right: Any) -> bool:
    if spec.type == FieldType.NUMBER:
        try:
            return left is not None and right is not None and Decimal(str(left)) == Decimal(str(right))
        except ArithmeticError:
            return False
    if spec.type == FieldType.STRING:
        return str(left or "").casefold() == str(right or "").casefold()
    return bool(left == right)


def changes_of(event: RuleEvent) -> dict[str, tuple[Any, Any]] | None:
    """{field: (old, new)} the event says changed (events carry their change: from/to, or changes); None when
    it names fields without their values."""
    if event.topic == "lead.stage_changed":
        return {"stage": (event.data.get("from"), event.data.get("to"))}
    if event.topic == "lead.owner_changed":
        return {"owner": (event.data.get("from"), event.data.get("to"))}
    changes = event.data.get("changes")
    if isinstance(changes, dict):
        return {
            name: (pair[0], pair[1])
            for name, pair in changes.items()
            if isinstance(pair, list | tuple) and len(pair) == 2
        }
    return None


def _field_changed(trigger: dict[str, Any], event: RuleEvent) -> bool:
    name = trigger["field"]
    spec = LEAD_FIELDS[name]
    changes = changes_of(event)
    if changes is None:
        # Only the names of the changed fields are known: a rule that needs the values does not fire.
        return name in (event.data.get("fields") or []) and "from" not in trigger and "to" not in trigger
    if name not in changes:
        return False
    old, new = changes[name]
    if spec.type == FieldType.TAGS:
        before, after = set(old or []), set(new or [])
        if "to" in trigger and trigger["to"] not in after - before:
            return False
        return not ("from" in trigger and trigger["from"] not in before - after)
    if "from" in trigger and not _same(spec, old, trigger["from"]):
        return False
    return not ("to" in trigger and not _same(spec, new, trigger["to"]))


def trigger_matches(trigger: dict[str, Any], event: RuleEvent) -> bool:
    """Whether a rule's (cleaned) trigger answers this event."""
    kind = trigger.get("type")
    if kind not in TOPIC_TRIGGERS.get(event.topic, ()):
        return False
    if kind == TriggerType.STAGE_ENTERED:
        return bool(event.data.get("to") == trigger["stage"])
    if kind == TriggerType.FIELD_CHANGED:
        return _field_changed(trigger, event)
    # lead_created; idle and task_overdue events are made per rule by the periodic scan
    return True
