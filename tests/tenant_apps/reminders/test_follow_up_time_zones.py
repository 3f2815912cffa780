"""The 06:00 follow-ups run hourly and reach each owner at 06:xx where they are (their zone, else the
organization's); reminders state the due time in the assignee's zone."""

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django_tenants.utils import schema_context
from rq.cron import CronScheduler

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.leads.models import Lead
from tenant_apps.notifications.models import Notification
from tenant_apps.reminders import services
from tenant_apps.reminders.jobs import FOLLOW_UP_LOCAL_HOUR, create_idle_lead_follow_ups
from tenant_apps.tasks.models import Task

LONG_AGO = datetime(2026, 5, 1, tzinfo=UTC)
# 2026-06-10 (summer in Los Angeles, PDT -7; winter in Auckland, NZST +12)
AT_06_UTC = datetime(2026, 6, 10, 6, 0, tzinfo=UTC)  # 23:00 in Los Angeles, 18:00 in Auckland
AT_06_LOS_ANGELES = datetime(2026, 6, 10, 13, 0, tzinfo=UTC)  # 01:00 next day in Auckland
AT_06_AUCKLAND = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)  # 11:00 in Los Angeles


@pytest.fixture
def los_angeles(org):
    Organization.objects.filter(pk=org.pk).update(time_zone="America/Los_Angeles")
    org.time_zone = "America/Los_Angeles"
    return org


@pytest.fixture
def owners(los_angeles, member, make_lead):
    """A rep on the organization's zone and one in Auckland, each with a lead idle since May."""
    local, away = member(role=Role.REP), member(role=Role.REP)
    with schema_context(los_angeles.schema_name):
        User.objects.filter(pk=away.pk).update(time_zone="Pacific/Auckland")
    leads = {}
    for name, owner in (("local", local), ("away", away)):
        lead = make_lead(owner_id=owner.pk, name=name)
        with schema_context(los_angeles.schema_name):
            Lead.objects.filter(pk=lead.pk).update(created_at=LONG_AGO)
        leads[name] = lead
    return local, away, leads


def run(organization, now):
    with schema_context(organization.schema_name):
        return create_idle_lead_follow_ups(now=now, local_hour=FOLLOW_UP_LOCAL_HOUR)


def followed_up(organization):
    with schema_context(organization.schema_name):
        return sorted(Task.objects.values_list("lead__name", flat=True))


def test_follow_ups_go_out_at_six_in_each_owners_zone_not_at_six_utc(los_angeles, owners):
    assert run(los_angeles, AT_06_UTC) == 0
    assert followed_up(los_angeles) == []

    assert run(los_angeles, AT_06_LOS_ANGELES) == 1  # the organization's 06:00: its members on its zone
    assert followed_up(los_angeles) == ["local"]

    assert run(los_angeles, AT_06_AUCKLAND) == 1  # the member in Auckland gets theirs at their 06:00
    assert followed_up(los_angeles) == ["away", "local"]
    assert run(los_angeles, AT_06_AUCKLAND) == 0  # the hour's second run adds nothing


def test_the_reminder_states_the_due_time_in_the_assignees_zone(los_angeles, owners):
    local, away, _ = owners
    run(los_angeles, AT_06_LOS_ANGELES)
    run(los_angeles, AT_06_AUCKLAND)
    with schema_context(los_angeles.schema_name):
        assert services.task_reminders_send(now=AT_06_AUCKLAND) == 2
        bodies = {n.recipient_id: n.body for n in Notification.objects.filter(kind="task.due")}
    assert "Due 2026-06-10 06:00 America/Los_Angeles" in bodies[local.pk]
    assert "Due 2026-06-11 06:00 Pacific/Auckland" in bodies[away.pk]


def test_the_scheduler_runs_the_follow_ups_hourly_for_the_six_oclock_owners(db):
    scheduler = CronScheduler(connection=None)  # type: ignore[arg-type]
    scheduler.load_config_from_file(str(settings.BASE_DIR / "config" / "cron.py"))
    [job] = [j for j in scheduler.get_jobs() if j.args and j.args[0] is create_idle_lead_follow_ups]
    assert job.cron == "0 * * * *"
    assert job.kwargs["local_hour"] == 6
