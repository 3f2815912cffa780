"""Reads on tasks. A task lives as long as its record does: tasks on a deleted or merged record are
invisible (they come back when the record is restored). A task is visible to a member exactly when its
record is (tenant_apps.records.visibility)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from shared_apps.core import localtime
from shared_apps.organizations.context import zone_for
from shared_apps.users.models import User
from tenant_apps.records import visibility
from tenant_apps.tasks.exceptions import TaskNotFound
from tenant_apps.tasks.models import NEVER, Task, TaskStatus

ANCHORS = ("lead", "contact", "account", "opportunity")
# Tasks without a due date sort after every dated one (cursor pagination cannot page over NULLs).


def anchor_of(task: Task) -> Any:
    """The record the task is on."""
    return next(getattr(task, name) for name in ANCHORS if getattr(task, f"{name}_id") is not None)


def _anchor_alive() -> Q:
    condition = Q()
    for name in ANCHORS:
        condition &= Q(**{f"{name}__isnull": True}) | Q(
            **{f"{name}__deleted_at__isnull": True, f"{name}__merged_into__isnull": True}
        )
    return condition


def live_tasks(actor: User | None = None) -> QuerySet[Task]:
    """Tasks on live records that `actor` may see (tasks are visible exactly when their record is;
    None: every one)."""
    tasks: QuerySet[Task] = visibility.tasks_for(actor)
    return tasks.filter(_anchor_alive())


def _overdue(now: datetime) -> Q:
    return Q(status=TaskStatus.OPEN, due_at__lt=now)


def _due_today(now: datetime, actor: User | None) -> Q:
    """Due within the calendar day it is at `now` where `actor` is (their zone, else the organization's):
    from their midnight to the next, whatever UTC says."""
    tz = zone_for(actor)
    start, end = localtime.day_range(localtime.today(tz, now), tz)
    return Q(due_at__gte=start, due_at__lt=end)


def task_list(*, actor: User | None, filters: dict[str, Any] | None = None) -> QuerySet[Task]:
    """Live tasks with their assignee and record joined (a page costs one query), annotated with `due_sort`
    (the due date, or never) for ordering. `filters` keys: assignee ("me" | "none" | id), status (list),
    due_before, due_after, overdue (bool), due_today (bool: the actor's local day), lead, contact, account,
    opportunity (record ids)."""
    tasks = (
        live_tasks(actor)
        .select_related("assignee", *ANCHORS)
        .annotate(due_sort=Coalesce(F("due_at"), Value(NEVER)))
    )
    for key, value in (filters or {}).items():
        if value is None or value in ("", []):
            continue
        tasks = _FILTERS[key](tasks, value, actor)
    return tasks


def _assignee(tasks: QuerySet[Task], value: Any, actor: User | None) -> QuerySet[Task]:
    if value == "me":
        return tasks.filter(assignee_id=actor.pk if actor else None)
    if value == "none":
        return tasks.filter(assignee__isnull=True)
    return tasks.filter(assignee_id=value)


def _overdue_filter(tasks: QuerySet[Task], value: bool, actor: User | None) -> QuerySet[Task]:
    condition = _overdue(timezone.now())
    return tasks.filter(condition) if value else tasks.exclude(condition)


def _due_today_filter(tasks: QuerySet[Task], value: bool, actor: User | None) -> QuerySet[Task]:
    condition = _due_today(timezone.now(), actor)
    return tasks.filter(condition) if value else tasks.exclude(condition)


def _on_record(name: str) -> Any:
    return lambda tasks, value, actor: tasks.filter(**{f"{name}_id": value})


_FILTERS: dict[str, Any] = {
    "assignee": _assignee,
    "status": lambda tasks, value, actor: tasks.filter(status__in=value),
    "due_before": lambda tasks, value, actor: tasks.filter(due_at__lt=value),
    "due_after": lambda tasks, value, actor: tasks.filter(due_at__gte=value),
    "overdue": _overdue_filter,
    "due_today": _due_today_filter,
    **{name: _on_record(name) for name in ANCHORS},
}


def task_overdue(*, actor: User, now: datetime | None = None) -> QuerySet[Task]:
    """The actor's open tasks whose due time has passed (what reminders go out for)."""
    return task_list(actor=actor, filters={"assignee": "me"}).filter(_overdue(now or timezone.now()))


def task_due_today(*, actor: User, now: datetime | None = None) -> QuerySet[Task]:
    """The actor's open tasks due on their local today (their zone, else the organization's)."""
    return task_list(actor=actor, filters={"assignee": "me", "status": [TaskStatus.OPEN]}).filter(
        _due_today(now or timezone.now(), actor)
    )


def task_get(*, task_id: int, actor: User | None = None) -> Task:
    """One live task `actor` may see (TaskNotFound for a task on a hidden record: it does not exist for
    them)."""
    task = task_list(actor=actor).filter(pk=task_id).first()
    if task is None:
        raise TaskNotFound(id=task_id)
    return task
