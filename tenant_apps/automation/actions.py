"""What a rule may do to a lead: the action types, their parameters, and running one through the services
that own the change (tasks, leads, sequences, notifications, events). Each action taken is written on the
lead's timeline as a SYSTEM activity naming the rule.

    {"type": "create_task", "title": "Call back", "description": "", "due_in_days": 2, "assignee": "owner"}
    {"type": "assign_owner", "member": 7}
    {"type": "add_tag", "tag": "hot"}            {"type": "remove_tag", "tag": "cold"}
    {"type": "set_field", "field": "source", "value": "ads"}
    {"type": "enroll_in_sequence", "sequence": 3}
    {"type": "send_webhook", "payload": {...}}   published as "rule.webhook" for the webhook outbox
    {"type": "notify", "recipient": "owner" | "admins" | <member id>, "title": "...", "body": "",
     "email": false}

`assignee` of create_task: "owner" (the lead's owner at the time, the default), a member id, or null.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.db.models import Model

from shared_apps.core.errors import AppError, InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.users.models import Role, User
from tenant_apps.activities.models import ActivityType
from tenant_apps.activities.services import activity_record
from tenant_apps.automation.models import Rule, RuleRun
from tenant_apps.automation.triggers import RuleEvent
from tenant_apps.filtering.values import MAX_ID, BadValue, parse_tag, show
from tenant_apps.leads.models import Lead, Source
from tenant_apps.leads.services import lead_update
from tenant_apps.records import normalize

MAX_ACTIONS = 10
MAX_DUE_DAYS = 365
MAX_WEBHOOK_PAYLOAD = 8_192
MAX_LEAD_VALUE = Decimal("9999999999.99")
ACTION_TYPES = (
    "create_task",
    "assign_owner",
    "add_tag",
    "remove_tag",
    "set_field",
    "enroll_in_sequence",
    "send_webhook",
    "notify",
)


class ActionUnavailable(AppError):
    code = "action_unavailable"


# ---- validation --------------------------------------------------------------------------------------


def _text(value: Any, *, max_length: int, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or "\x00" in value or len(value) > max_length:
        raise BadValue(f"a string of at most {max_length} characters")
    value = value.strip()
    if required and not value:
        raise BadValue("a non-empty string")
    return value


def _member(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise BadValue("a member id")
    if not User.objects.filter(pk=value, is_active=True).exists():
        raise BadValue("the id of an active member of this organization")
    return value


def _lead_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadValue("an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise BadValue("an amount") from None
    if (
        not amount.is_finite()
        or not 0 <= amount <= MAX_LEAD_VALUE
        or amount != amount.quantize(Decimal("0.01"))
    ):
        raise BadValue(f"an amount from 0 to {MAX_LEAD_VALUE} with at most 2 decimals")
    return str(amount.quantize(Decimal("0.01")))


def _score(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -1_000_000 <= value <= 1_000_000:
        raise BadValue("an integer from -1000000 to 1000000")
    return value


def _source(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in Source.values:
        raise BadValue(f"one of {', '.join(Source.values)}")
    return value.lower()


def _normalized(normalizer: Callable[[str], str], max_length: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text(value, max_length=max_length)
        try:
            return normalizer(text)
        except InvalidInput as error:
            raise BadValue(error.message.rstrip(".").lower()) from None

    return parse


def _phone(text: str) -> str:
    normalize.phone(text)  # validates; lead_update keeps the number as written and its normalized form
    return text


# Fields set_field may write, each with the parser of its value (lead_update checks them again).
SETTABLE: dict[str, Callable[[Any], Any]] = {
    "name": lambda value: _text(value, max_length=200, required=True),
    "company": lambda value: _text(value, max_length=200),
    "email": _normalized(normalize.email, 254),
    "phone": _normalized(_phone, 40),
    "currency": _normalized(normalize.currency, 3),
    "source": _source,
    "value": _lead_value,
    "score": _score,
}


def _sequence_exists(sequence_id: int) -> bool:
    """Whether the sequences app is installed and has this live sequence (it may ship after this app)."""
    if not apps.is_installed("tenant_apps.sequences"):
        raise BadValue("nothing: sequences are not available in this installation")
    model: Any = apps.get_model("sequences", "Sequence")
    manager = model.objects
    live = manager.alive() if hasattr(manager, "alive") else manager.filter(deleted_at__isnull=True)
    return bool(live.filter(pk=sequence_id).exists())


def _clean_params(kind: str, action: dict[str, Any]) -> dict[str, Any]:
    """The parameters of one action, each checked; a BadValue is raised as (key, message)."""
    cleaned: dict[str, Any] = {"type": kind}

    def take(key: str, parse: Callable[[Any], Any], *, required: bool = False, default: Any = None) -> None:
        if key not in action:
            if required:
                raise _Bad(key, "is required")
            if default is not None:
                cleaned[key] = default
            return
        try:
            cleaned[key] = parse(action[key])
        except BadValue as error:
            raise _Bad(key, f"expects {error}") from None

    if kind == "create_task":
        take("title", lambda v: _text(v, max_length=300, required=True), required=True)
        take("description", lambda v: _text(v, max_length=20_000))
        take("due_in_days", _due_days)
        take("assignee", _assignee, default="owner")
    elif kind == "assign_owner":
        take("member", _member, required=True)
    elif kind in ("add_tag", "remove_tag"):
        take("tag", parse_tag, required=True)
    elif kind == "set_field":
        field = action.get("field")
        if not isinstance(field, str) or field not in SETTABLE:
            raise _Bad("field", f"expects one of {', '.join(SETTABLE)}")
        cleaned["field"] = field
        take("value", SETTABLE[field], required=True)
    elif kind == "enroll_in_sequence":
        take("sequence", _sequence, required=True)
    elif kind == "send_webhook":
        take("payload", _payload, default={})
    elif kind == "notify":
        take("recipient", _recipient, required=True)
        take("title", lambda v: _text(v, max_length=200, required=True), required=True)
        take("body", lambda v: _text(v, max_length=2_000))
        take("email", _flag, default=False)
    return cleaned


class _Bad(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key, self.message = key, message


def _due_days(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DUE_DAYS:
        raise BadValue(f"a whole number of days from 0 to {MAX_DUE_DAYS}, or null")
    return value


def _assignee(value: Any) -> int | str | None:
    if value is None or value == "owner":
        return value
    try:
        return _member(value)
    except BadValue:
        raise BadValue('"owner", null or the id of an active member') from None


def _recipient(value: Any) -> int | str:
    if value in ("owner", "admins"):
        return str(value)
    try:
        return _member(value)
    except BadValue:
        raise BadValue('"owner", "admins" or the id of an active member') from None


def _sequence(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise BadValue("a sequence id")
    if not _sequence_exists(value):
        raise BadValue("the id of a sequence of this organization")
    return value


def _payload(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadValue("a JSON object")
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise BadValue("plain JSON (no NaN or Infinity)") from None
    if "\\u0000" in encoded or len(encoded.encode()) > MAX_WEBHOOK_PAYLOAD:
        raise BadValue(f"a JSON object of at most {MAX_WEBHOOK_PAYLOAD} bytes without NUL characters")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadValue("true or false")
    return value


def clean_action(action: Any, *, index: int) -> dict[str, Any]:
    """One action checked against the whitelist; errors name `actions[<index>].<key>`."""
    prefix = f"actions[{index}]"
    if not isinstance(action, dict):
        raise InvalidInput(
            prefix,
            'Expected an object such as {"type": "add_tag", "tag": "hot"}.',
            code="invalid_action",
            index=index,
        )
    kind = action.get("type")
    if not isinstance(kind, str) or kind not in ACTION_TYPES:
        raise InvalidInput(
            f"{prefix}.type",
            f"Unknown action {show(kind)}; use one of {', '.join(ACTION_TYPES)}.",
            code="invalid_action",
            index=index,
        )
    unknown = sorted(set(action) - {"type"} - set(_PARAMS[kind]))
    if unknown:
        raise InvalidInput(
            f"{prefix}.{unknown[0]}",
            f"Unknown parameter; {kind} takes {', '.join(_PARAMS[kind])}.",
            code="invalid_action",
            index=index,
        )
    try:
        return _clean_params(kind, action)
    except _Bad as error:
        raise InvalidInput(
            f"{prefix}.{error.key}",
            f"{kind}: {error.key} {error.message}.",
            code="invalid_action",
            index=index,
        ) from None


_PARAMS: dict[str, tuple[str, ...]] = {
    "create_task": ("title", "description", "due_in_days", "assignee"),
    "assign_owner": ("member",),
    "add_tag": ("tag",),
    "remove_tag": ("tag",),
    "set_field": ("field", "value"),
    "enroll_in_sequence": ("sequence",),
    "send_webhook": ("payload",),
    "notify": ("recipient", "title", "body", "email"),
}


def clean_actions(actions: Any) -> list[dict[str, Any]]:
    if not isinstance(actions, list) or not actions:
        raise InvalidInput("actions", "Expected a list of 1 or more actions.")
    if len(actions) > MAX_ACTIONS:
        raise InvalidInput("actions", f"At most {MAX_ACTIONS} actions.")
    return [clean_action(action, index=index) for index, action in enumerate(actions)]


# ---- running -----------------------------------------------------------------------------------------


class ActionFailed(AppError):
    """An action refused by the service it went through; the rule's other actions are undone with it."""

    code = "action_failed"

    def __init__(self, *, index: int, kind: str, error: AppError) -> None:
        super().__init__(f"actions[{index}] ({kind}): {error.message}", index=index, reason=error.code)


@dataclass
class Context:
    rule: Rule
    run: RuleRun
    event: RuleEvent
    lead: Lead
    now: datetime


def _update(context: Context, changes: dict[str, Any]) -> str:
    before = {key: getattr(context.lead, key) for key in changes}
    context.lead = lead_update(lead_id=context.lead.pk, actor=None, changes=changes)
    return "no_change" if all(before[key] == getattr(context.lead, key) for key in changes) else "done"


def _create_task(context: Context, action: dict[str, Any], index: int) -> dict[str, Any]:
    from tenant_apps.tasks.services import task_create

    assignee = action.get("assignee", "owner")
    assignee_id = context.lead.owner_id if assignee == "owner" else assignee
    days = action.get("due_in_days")
    task = task_create(
        actor=None,
        title=action["title"],
        description=action.get("description", ""),
        due_at=None if days is None else context.now + timedelta(days=days),
        assignee_id=assignee_id,
        lead_id=context.lead.pk,
    )
    return {"outcome": "done", "task_id": task.pk, "title": task.title, "assignee_id": task.assignee_id}


def _assign_owner(context: Context, action: dict[str, Any], index: int) -> dict[str, Any]:
    return {"outcome": _update(context, {"owner_id": action["member"]}), "member": action["member"]}


def _add_tag(context: Context, action: dict[str, Any], index: int) -> dict[str, Any]:
    tags = list(context.lead.tags)
    if action["tag"] not in tags:
        tags.append(action["tag"])
    return {"outcome": _update(context, {"tags": tags}), "tag": action["tag"]}


def _remove_tag(context: Context, action: dict[str, Any], index: int) -> dict[str, Any]:
    tags = [tag for tag in context.lead.tags if tag != action["tag"]]
    return {"outcome": _update(context, {"tags": tags}), "tag": action["tag"]}


def _set_field(context: Context, action: dict[str, Any], index: int) -> dict[str, Any]:
    field, value = action["field"], action["value"]
    outcome = _update(context, {field: Decimal(value) if field == "value" else value})
    return {"outcome": outcome, "field": field, "value": value}


def _enroll(context: Context, action: dict[str, Any], index: int) -> dict[str, Any]:
    try:
        from tenant_apps.sequences.services import sequence_enroll
    except ImportError:
        raise ActionUnavailable("Sequences are not available in this installation.") from None
    try:
        enrollment: Model = sequence_enroll(
            sequence_id=action["sequence"], lead_id=context.lead.pk, actor=None
        )
    except AppError as error:
        if error.code in ("already_enrolled", "do_not_contact"):
            return {"outcome": error.code, "sequence": action["sequence"]}
        raise
    return {"outcome": "done", "sequence": action["sequence"], "enrollment_id": enrollment.pk}


def _lead_snapshot(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.pk,
        "name": lead.name,
        "email": lead.email,
        "phone": lead.phone,
        "company": lead.company,
        "source": lead.source,
        "stage": lead.stage,
        "value": str(lead.value),
        "currency": lead.currency,
        "owner_id": lead.owner_id,
        "tags": list(lead.tags),
        "score": lead.score,
    }


def _send_webhook(context: Context, action: dict[str, Any], index: int) -> dict[str, Any]:
    publish_on_commit(
        "rule.webhook",
        record_id=context.lead.pk,
        rule_id=context.rule.pk,
        rule_name=context.rule.name,
        payload={
            "trigger": context.event.topic,
            "lead": _lead_snapshot(context.lead),
            "data": action["payload"],
        },
    )
    return {"outcome": "done"}


def _notify(context: Context, action: dict[str, Any], index: int) -> dict[str, Any]:
    from tenant_apps.notifications.services import notify

    recipient = action["recipient"]
    members = User.objects.filter(is_active=True)
    if recipient == "owner":
        members = members.filter(pk=context.lead.owner_id) if context.lead.owner_id else members.none()
    elif recipient == "admins":
        members = members.filter(role=Role.ADMIN)
    else:
        members = members.filter(pk=recipient)
    sent = []
    for member in members.order_by("id"):
        notify(
            recipient=member,
            kind="automation.rule",
            title=action["title"],
            body=action.get("body", ""),
            data={"rule_id": context.rule.pk, "lead_id": context.lead.pk},
            # the same action of the same rule for the same event notifies once, however often it runs
            key=f"rule:{context.rule.pk}:{context.event.key}:{index}",
            email=action.get("email", False),
        )
        sent.append(member.pk)
    return {"outcome": "done" if sent else "no_recipient", "recipients": sent}


RUNNERS: dict[str, Callable[[Context, dict[str, Any], int], dict[str, Any]]] = {
    "create_task": _create_task,
    "assign_owner": _assign_owner,
    "add_tag": _add_tag,
    "remove_tag": _remove_tag,
    "set_field": _set_field,
    "enroll_in_sequence": _enroll,
    "send_webhook": _send_webhook,
    "notify": _notify,
}

DESCRIPTIONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "create_task": lambda r: f'created task "{r.get("title", "")}"',
    "assign_owner": lambda r: f"assigned owner {r.get('member')}",
    "add_tag": lambda r: f'added tag "{r.get("tag")}"',
    "remove_tag": lambda r: f'removed tag "{r.get("tag")}"',
    "set_field": lambda r: f"set {r.get('field')} to {r.get('value')}",
    "enroll_in_sequence": lambda r: f"enrolled in sequence {r.get('sequence')}",
    "send_webhook": lambda r: "sent a webhook",
    "notify": lambda r: f"notified {len(r.get('recipients', []))} member(s)",
}


def action_run(context: Context, action: dict[str, Any], *, index: int) -> dict[str, Any]:
    """Run one (cleaned) action on the context's lead and write it on the lead's timeline, naming the rule.
    A refusal by the owning service is raised as ActionFailed (the caller undoes the rule's actions)."""
    kind = action["type"]
    try:
        result = RUNNERS[kind](context, action, index)
    except AppError as error:
        raise ActionFailed(index=index, kind=kind, error=error) from error
    result = {"type": kind, **result}
    activity_record(
        lead=context.lead,
        type=ActivityType.SYSTEM,
        actor_id=None,
        subject=f'Rule "{context.rule.name}": {DESCRIPTIONS[kind](result)}',
        metadata={
            "event": "rule_action",
            "rule_id": context.rule.pk,
            "rule_name": context.rule.name,
            "run_id": context.run.pk,
            "trigger": context.event.topic,
            "action": kind,
            **{key: value for key, value in result.items() if key != "type"},
        },
    )
    return result
