"""rq entry points, fanned out to every active organization by the scheduler (config/cron.py). Each runs in
its organization's schema (shared_apps.organizations.jobs), calls one service and is safe to run twice."""

from __future__ import annotations

from datetime import datetime

from tenant_apps.reminders import services

FOLLOW_UP_LOCAL_HOUR = 6  # follow-ups are created at 06:xx in each owner's time zone


def send_due_task_reminders(now: datetime | None = None) -> int:
    """Every minute: remind assignees of the tasks that fell due since the last run."""
    return services.task_reminders_send(now=now)


def create_idle_lead_follow_ups(now: datetime | None = None, local_hour: int | None = None) -> int:
    """Hourly with `local_hour=6` (config/cron.py): a follow-up task for each lead nobody contacted for the
    organization's idle_days, for the owners it is 06:xx for where they are. Without `local_hour`: every
    owner's, now."""
    return len(services.idle_lead_follow_ups_create(now=now, local_hour=local_hour))
