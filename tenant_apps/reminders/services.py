"""Follow-up automation: reminders for due tasks, follow-up tasks for idle leads, and their settings.

The two periodic services run from rq jobs (at-least-once delivery) and are idempotent by construction:
a task's reminder is keyed by its due time and marked in the same transaction, an idle lead gets a
follow-up only while it has no open task, each decided under a row lock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import Forbidden, InvalidInput
from shared_apps.core.events import publish_on_commit
from shared_apps.organizations.context import zone_for
from shared_apps.users.models import Role, User
from tenant_apps.leads.models import Lead
from tenant_apps.notifications.models import Notification
from tenant_apps.notifications.services import notify
from tenant_apps.reminders.models import MAX_IDLE_DAYS, FollowUpSettings
from tenant_apps.reminders.selectors import (
    follow_up_settings_get,
    idle_leads,
    owners_at_local_hour,
    tasks_due_for_reminder,
)
from tenant_apps.tasks.models import Task
from tenant_apps.tasks.selectors import anchor_of
from tenant_apps.tasks.services import task_create

logger = logging.getLogger(__name__)

# Per run: the rest waits for the next run (every minute for reminders, daily for follow-ups).
REMINDER_BATCH = 500
FOLLOW_UP_BATCH = 1000
SETTINGS_FIELDS = ("idle_days", "enabled")


@transaction.atomic
def follow_up_settings_update(
    *, actor: User, changes: dict[str, Any], request: HttpRequest | None = None
) -> FollowUpSettings:
    """Change the organization's follow-up settings. Admins only; idle_days is 1 to 365. What changed
    (before and after) is in the audit log."""
    if actor.role != Role.ADMIN:
        raise Forbidden("Only an admin can change the follow-up settings.")
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "Unknown field.")
    if "idle_days" in changes:
        days = changes["idle_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_IDLE_DAYS:
            raise InvalidInput("idle_days", f"A whole number of days from 1 to {MAX_IDLE_DAYS}.")
    if "enabled" in changes and not isinstance(changes["enabled"], bool):
        raise InvalidInput("enabled", "Expected true or false.")
    FollowUpSettings.objects.get_or_create(pk=1)
    settings = FollowUpSettings.objects.select_for_update().get(pk=1)
    diff = {
        key: [getattr(settings, key), value]
        for key, value in changes.items()
        if getattr(settings, key) != value
    }
    for key, (_old, new) in diff.items():
        setattr(settings, key, new)
    settings.updated_by = actor
    settings.save()
    if diff:
        publish_on_commit(
            "settings.follow_ups_updated", record_id=settings.pk, actor_id=actor.pk, changes=diff
        )
        audit_record(
            "settings.changed",
            request=request,
            actor=actor,
            target=settings,
            target_repr="follow-ups",
            changes={f"follow_ups.{key}": values for key, values in diff.items()},
        )
    return settings


def task_reminders_send(*, now: datetime | None = None) -> int:
    """Remind each assignee of their tasks that fell due (in-app and by email); returns how many reminders
    went out. Each task is decided in its own transaction, so one failure does not undo the others."""
    now = now or timezone.now()
    task_ids = list(
        tasks_due_for_reminder(now=now).order_by("due_at", "pk").values_list("pk", flat=True)[:REMINDER_BATCH]
    )
    return sum(1 for task_id in task_ids if task_reminder_send(task_id=task_id, now=now) is not None)


@transaction.atomic
def task_reminder_send(*, task_id: int, now: datetime | None = None) -> Notification | None:
    """One reminder per task and due time: under the task's row lock the task is checked to still need
    one, the notification is created with the key task-due:<id>:<due time> (idempotent even without the
    lock) and `reminded_at` is set in the same transaction. The email goes out after commit, once
    (notifications.services.notification_email). None when there was nothing to send (already reminded,
    completed, rescheduled, or another run holds the task)."""
    now = now or timezone.now()
    task = (
        tasks_due_for_reminder(now=now)
        .select_for_update(of=("self",), skip_locked=True)
        .select_related("assignee", "lead", "contact", "account", "opportunity")
        .filter(pk=task_id)
        .first()
    )
    if task is None or task.due_at is None or task.assignee is None:
        return None
    record = anchor_of(task)
    record_type = record._meta.model_name
    due = task.due_at.isoformat()
    zone = zone_for(task.assignee)  # the due time as the assignee reads their clock
    local_due = task.due_at.astimezone(zone)
    notification = notify(
        recipient=task.assignee,
        kind="task.due",
        title=f"Task due: {task.title}",
        body=f"{task.title}\nDue {local_due:%Y-%m-%d %H:%M} {zone.key}, on {record_type} {record}.",
        data={"task_id": task.pk, "due_at": due, "record": {"type": record_type, "id": record.pk}},
        key=f"task-due:{task.pk}:{due}",
        email=True,
    )
    # update(): a reminder is not an edit of the task (updated_at stays)
    Task.objects.filter(pk=task.pk).update(reminded_at=now)
    publish_on_commit(
        "task.reminded", record_id=task.pk, actor_id=None, assignee_id=task.assignee_id, due_at=due
    )
    return notification


def idle_lead_follow_ups_create(*, now: datetime | None = None, local_hour: int | None = None) -> list[int]:
    """Give each idle lead (see reminders.selectors.idle_leads) a follow-up task for its owner, due now;
    returns the ids of the tasks created. Nothing when the organization turned the automation off.
    `local_hour` (the scheduler's 6): only the leads of owners whose own time (their zone, else the
    organization's) is in that hour now, so each member gets theirs at 06:xx where they are."""
    now = now or timezone.now()
    settings = follow_up_settings_get()
    if not settings.enabled:
        return []
    cutoff = now - timedelta(days=settings.idle_days)
    leads = idle_leads(cutoff=cutoff)
    if local_hour is not None:
        leads = leads.filter(owner_id__in=owners_at_local_hour(now=now, hour=local_hour))
    lead_ids = list(leads.order_by("pk").values_list("pk", flat=True)[:FOLLOW_UP_BATCH])
    created = []
    for lead_id in lead_ids:
        task = lead_follow_up_create(lead_id=lead_id, cutoff=cutoff, now=now, idle_days=settings.idle_days)
        if task is not None:
            created.append(task.pk)
    return created


@transaction.atomic
def lead_follow_up_create(*, lead_id: int, cutoff: datetime, now: datetime, idle_days: int) -> Task | None:
    """A follow-up task for one idle lead, decided under the lead's row lock (the lock task_create takes
    too), so two runs at once create one task: the second sees the first one's open task and stops."""
    lead = Lead.objects.select_for_update(no_key=True).filter(pk=lead_id).first()
    if lead is None or not idle_leads(cutoff=cutoff).filter(pk=lead_id).exists():
        return None
    return task_create(
        actor=None,
        title=f"Follow up with {lead.name}"[:300],
        description=f"No contact for {idle_days} days: this task was created automatically.",
        due_at=now,
        assignee_id=lead.owner_id,
        lead_id=lead.pk,
    )
