"""Reads behind the follow-up automation: the settings, the tasks whose reminder is due, the idle leads."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce

from shared_apps.core import localtime
from shared_apps.organizations.context import zone_for
from shared_apps.users.models import User
from tenant_apps.leads.models import IN_OPEN_PIPELINE, Lead
from tenant_apps.reminders.models import FollowUpSettings
from tenant_apps.tasks.models import Task, TaskStatus
from tenant_apps.tasks.selectors import live_tasks


def follow_up_settings_get() -> FollowUpSettings:
    """The organization's settings; the defaults (unsaved) until an admin first changes them."""
    return FollowUpSettings.objects.select_related("updated_by").filter(pk=1).first() or FollowUpSettings()


def tasks_due_for_reminder(*, now: datetime) -> QuerySet[Task]:
    """Open, live tasks past their due time with an active assignee and no reminder for that due time yet.

    A reminder is per due time: `reminded_at` earlier than `due_at` means the task was pushed back after
    its last reminder, so the new due time gets one too."""
    return (
        live_tasks()
        .filter(status=TaskStatus.OPEN, due_at__lte=now, assignee__isnull=False, assignee__is_active=True)
        .filter(Q(reminded_at__isnull=True) | Q(reminded_at__lt=F("due_at")))
    )


def idle_leads(*, cutoff: datetime) -> QuerySet[Lead]:
    """Open, live leads with an active owner, not contacted since `cutoff` (created before it when never
    contacted), with no open task (someone is already following up) and no task created since `cutoff`
    (so a follow-up closed without contact is followed by the next one only after another idle period)."""
    tasks = Task.objects.filter(lead=OuterRef("pk"))
    return (
        Lead.objects.alive()
        .filter(IN_OPEN_PIPELINE, owner__isnull=False, owner__is_active=True)
        .annotate(idle_since=Coalesce("last_contacted_at", "created_at"))
        .filter(idle_since__lt=cutoff)
        .filter(~Exists(tasks.filter(status=TaskStatus.OPEN)), ~Exists(tasks.filter(created_at__gte=cutoff)))
    )


def owners_at_local_hour(*, now: datetime, hour: int) -> QuerySet[User]:
    """Active members whose own clock (their zone, else the organization's) reads `hour`:xx at `now`: the
    zones in use are few, so each is checked once and the members are picked by zone name."""
    names = set(User.objects.filter(is_active=True).values_list("time_zone", flat=True).distinct())
    due = [name for name in names if localtime.local_now(zone_for(User(time_zone=name)), now).hour == hour]
    return User.objects.filter(is_active=True, time_zone__in=due)
