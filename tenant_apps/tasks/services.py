"""Every write on tasks: each writes a TASK activity on the task's record in the same transaction and
announces itself on commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from shared_apps.core.errors import Forbidden, InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.core.validation import clean_text
from shared_apps.users.models import User
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import ActivityType
from tenant_apps.activities.services import activity_record
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.records import visibility
from tenant_apps.tasks.exceptions import TaskAnchorInvalid, TaskNotFound, TaskTransitionNotAllowed
from tenant_apps.tasks.models import Task, TaskStatus
from tenant_apps.tasks.selectors import ANCHORS, anchor_of, live_tasks

ANCHOR_MODELS: dict[str, type[models.Model]] = {
    "lead": Lead,
    "contact": Contact,
    "account": Account,
    "opportunity": Opportunity,
}
# The only status changes there are; everything else is a 409.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    TaskStatus.OPEN: (TaskStatus.DONE, TaskStatus.CANCELLED),
    TaskStatus.DONE: (TaskStatus.OPEN,),
    TaskStatus.CANCELLED: (TaskStatus.OPEN,),
}
EDITABLE_FIELDS = ("title", "description", "due_at", "assignee_id")
MAX_ID = 2**63 - 1


class _Actor:
    """Default of `assignee_id`: the actor (None means explicitly unassigned)."""


ACTOR = _Actor()


def _clean_id(value: Any, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidInput(field, "An id is required.")
    return value


def _clean_assignee(value: Any) -> int | None:
    if value is None:
        return None
    value = _clean_id(value, field="assignee")
    if not User.objects.filter(pk=value, is_active=True).exists():
        raise InvalidInput("assignee", "Not an active member of this organization.", code="unknown_member")
    return value


def _clean_due(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidInput("due_at", "A date and time is required.")
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "title":
            cleaned["title"] = clean_text(value, field="title", max_length=300, required=True)
        elif key == "description":
            cleaned["description"] = clean_text(value, field="description", max_length=20_000)
        elif key == "due_at":
            cleaned["due_at"] = _clean_due(value)
        elif key == "assignee_id":
            cleaned["assignee_id"] = _clean_assignee(value)
    return cleaned


def _anchor(given: dict[str, int | None], actor: User | None) -> tuple[str, models.Model]:
    """The one live record a new task is on, locked against a concurrent delete or merge (which would
    otherwise leave the task on a tombstone). A record the actor may not see answers exactly like a missing
    one (its existence and name are not revealed)."""
    present = [name for name in ANCHORS if given.get(name) is not None]
    if len(present) != 1:
        raise TaskAnchorInvalid(
            present if present else list(ANCHORS),
            "A task is on exactly one record: give one of lead, contact, account or opportunity.",
        )
    name = present[0]
    record_id = _clean_id(given[name], field=name)
    model: Any = ANCHOR_MODELS[name]
    record = model.objects.alive().select_for_update(no_key=True).filter(pk=record_id).first()
    if record is None or not visibility.can_see(actor, record):
        raise InvalidInput(name, f"No such {name}.", code="unknown_record", id=record_id)
    return name, record


def _announce(topic: str, task: Task, actor_id: int | None, **data: Any) -> None:
    name = next(name for name in ANCHORS if getattr(task, f"{name}_id") is not None)
    publish_on_commit(
        f"task.{topic}",
        record_id=task.pk,
        actor_id=actor_id,
        status=task.status,
        assignee_id=task.assignee_id,
        anchor_type=name,
        anchor_id=getattr(task, f"{name}_id"),
        **data,
    )


@transaction.atomic
def task_create(
    *,
    actor: User | None,
    title: Any,
    description: Any = "",
    due_at: Any = None,
    assignee_id: Any = ACTOR,
    lead_id: int | None = None,
    contact_id: int | None = None,
    account_id: int | None = None,
    opportunity_id: int | None = None,
) -> Task:
    """Create an open task on exactly one live record, assigned to an active member (the actor unless
    given; None leaves it unassigned), with a TASK activity on that record's timeline."""
    actor_id = actor.pk if actor else None
    cleaned = _clean({"title": title, "description": description, "due_at": due_at})
    cleaned["assignee_id"] = actor_id if isinstance(assignee_id, _Actor) else _clean_assignee(assignee_id)
    name, record = _anchor(
        {"lead": lead_id, "contact": contact_id, "account": account_id, "opportunity": opportunity_id}, actor
    )
    task = Task.objects.create(**cleaned, **{name: record}, status=TaskStatus.OPEN, created_by_id=actor_id)
    activity_record(
        record=record,
        type=ActivityType.TASK,
        actor_id=actor_id,
        subject=f"Task created: {task.title}",
        metadata={"task_id": task.pk, "status": task.status},
    )
    _announce("created", task, actor_id)
    return task


def _locked(task_id: int, actor: User | None) -> Task:
    """The task, locked; a task whose record was deleted or merged away is gone with it, and so is one on a
    record the actor may not see (404). A visible task the actor may not change is a 403."""
    task = live_tasks(actor).select_for_update(of=("self",)).filter(pk=task_id).first()
    if task is None:
        raise TaskNotFound(id=task_id)
    if not visibility.can_change(actor, task):
        raise Forbidden("You may not change this task.", code="task_forbidden")
    return task


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@transaction.atomic
def task_update(*, task_id: int, actor: User | None, changes: dict[str, Any]) -> Task:
    """Change the title, description, due date or assignee. The status is not one of them (it changes only
    through task_transition) and a task never moves to another record."""
    if "status" in changes:
        raise InvalidInput(
            "status",
            "The status changes only through POST /api/tasks/<id>/complete/, /cancel/ or /reopen/.",
            code="use_transition",
        )
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "Unknown or read-only field.")
    cleaned = _clean(changes)
    task = _locked(task_id, actor)
    diff = {key: (getattr(task, key), value) for key, value in cleaned.items() if getattr(task, key) != value}
    if not diff:
        return task
    for key, (_old, new) in diff.items():
        setattr(task, key, new)
    task.save(update_fields=[*diff, "updated_at"])
    actor_id = actor.pk if actor else None
    changed = {key.removesuffix("_id"): [_plain(old), _plain(new)] for key, (old, new) in diff.items()}
    activity_record(
        record=anchor_of(task),
        type=ActivityType.TASK,
        actor_id=actor_id,
        subject=f"Task updated: {task.title}",
        metadata={"task_id": task.pk, "status": task.status, "changes": changed},
    )
    _announce("updated", task, actor_id, fields=sorted(changed))
    return task


@transaction.atomic
def task_transition(*, task_id: int, to_status: str, actor: User | None) -> Task:
    """open -> done | cancelled, done | cancelled -> open; anything else is a conflict. The row is locked,
    so a task completed twice at once is completed (and written on the timeline) once. Completing sets
    completed_at; reopening clears it."""
    if to_status not in TaskStatus.values:
        raise InvalidInput("status", f"Expected one of {', '.join(TaskStatus.values)}.")
    task = _locked(task_id, actor)
    allowed = TRANSITIONS[task.status]
    if to_status not in allowed:
        raise TaskTransitionNotAllowed(current=task.status, requested=to_status, allowed=allowed)
    task.status = to_status
    task.completed_at = timezone.now() if to_status == TaskStatus.DONE else None
    task.save(update_fields=["status", "completed_at", "updated_at"])
    actor_id = actor.pk if actor else None
    verb = {TaskStatus.DONE: "completed", TaskStatus.CANCELLED: "cancelled", TaskStatus.OPEN: "reopened"}[
        TaskStatus(to_status)
    ]
    activity_record(
        record=anchor_of(task),
        type=ActivityType.TASK,
        actor_id=actor_id,
        subject=f"Task {verb}: {task.title}",
        metadata={"task_id": task.pk, "status": task.status},
        occurred_at=task.completed_at,
    )
    _announce(verb, task, actor_id)
    return task


def task_complete(*, task_id: int, actor: User | None) -> Task:
    return task_transition(task_id=task_id, to_status=TaskStatus.DONE, actor=actor)


def task_reopen(*, task_id: int, actor: User | None) -> Task:
    return task_transition(task_id=task_id, to_status=TaskStatus.OPEN, actor=actor)
