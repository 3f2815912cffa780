"""Idle-lead follow-ups and the per-organization setting behind them."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.organizations.jobs import enqueue_in_organization
from shared_apps.users.models import Role
from tenant_apps.activities.services import activity_log
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.reminders import services
from tenant_apps.reminders.jobs import create_idle_lead_follow_ups
from tenant_apps.tasks import services as tasks
from tenant_apps.tasks.models import Task
from tests.conftest import client_for

URL = "/api/settings/follow-ups/"


@pytest.fixture
def rep(member):
    return member(role=Role.REP)


@pytest.fixture
def idle_lead(org, make_lead):
    """idle_lead(days, **fields): a lead created `days` ago and never contacted since."""

    def make(days=10, organization=None, **fields):
        organization = organization or org
        lead = make_lead(organization=organization, **fields)
        with schema_context(organization.schema_name):
            Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - timedelta(days=days))
            lead.refresh_from_db()
        return lead

    return make


def follow_up(organization, now=None):
    with schema_context(organization.schema_name):
        return create_idle_lead_follow_ups(now=now)


def tasks_on(organization, lead):
    with schema_context(organization.schema_name):
        return list(Task.objects.filter(lead=lead).order_by("pk"))


def test_an_idle_lead_gets_one_follow_up_task_for_its_owner(org, rep, idle_lead):
    lead = idle_lead(days=8, name="Jane Doe", owner_id=rep.pk)
    now = timezone.now()
    assert follow_up(org, now) == 1
    assert follow_up(org, now) == 0  # a second run creates nothing
    assert follow_up(org) == 0

    [task] = tasks_on(org, lead)
    assert (task.title, task.assignee_id, task.status, task.due_at) == (
        "Follow up with Jane Doe",
        rep.pk,
        "open",
        now,
    )
    assert task.created_by_id is None and "7 days" in task.description


def test_who_gets_no_follow_up(org, rep, admin, idle_lead, make_lead):
    leads = {
        "recent": make_lead(owner_id=rep.pk),
        "no owner": idle_lead(),
        "won": idle_lead(owner_id=rep.pk, stage=Stage.WON),
        "lost": idle_lead(owner_id=rep.pk, stage=Stage.LOST),
        "deleted": idle_lead(owner_id=rep.pk),
        "contacted": idle_lead(owner_id=rep.pk),
        "has a task": idle_lead(owner_id=rep.pk),
    }
    with schema_context(org.schema_name):
        Lead.objects.filter(pk=leads["deleted"].pk).update(deleted_at=timezone.now())
        activity_log(
            actor=rep,
            type="CALL",
            lead_id=leads["contacted"].pk,
            occurred_at=timezone.now() - timedelta(days=2),
        )
        tasks.task_create(actor=rep, title="Call next week", lead_id=leads["has a task"].pk)
    assert follow_up(org) == 0


def test_a_closed_follow_up_is_followed_by_the_next_only_after_another_idle_period(org, rep, idle_lead):
    lead = idle_lead(owner_id=rep.pk)
    now = timezone.now()
    follow_up(org, now)
    [task] = tasks_on(org, lead)
    with schema_context(org.schema_name):
        tasks.task_complete(task_id=task.pk, actor=rep)  # done, but nobody actually got in touch
    assert follow_up(org, now + timedelta(days=1)) == 0
    assert follow_up(org, now + timedelta(days=8)) == 1
    assert len(tasks_on(org, lead)) == 2


def test_the_organizations_idle_days_and_switch_decide(org, rep, admin, idle_lead):
    lead = idle_lead(days=10, owner_id=rep.pk)
    with schema_context(org.schema_name):
        services.follow_up_settings_update(actor=admin, changes={"idle_days": 30})
    assert follow_up(org) == 0
    with schema_context(org.schema_name):
        services.follow_up_settings_update(actor=admin, changes={"idle_days": 9, "enabled": False})
    assert follow_up(org) == 0
    with schema_context(org.schema_name):
        services.follow_up_settings_update(actor=admin, changes={"enabled": True})
    assert follow_up(org) == 1
    assert len(tasks_on(org, lead)) == 1


def test_the_follow_up_is_reminded_to_its_owner_when_due(
    org, smtp, rep, idle_lead, django_capture_on_commit_callbacks
):
    from tenant_apps.reminders.jobs import send_due_task_reminders

    idle_lead(name="Jane Doe", owner_id=rep.pk)
    follow_up(org)
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        assert send_due_task_reminders() == 1
    [email] = smtp.messages
    assert (
        email.recipients == [rep.email]
        and email["Subject"] == "[LeadPulse] Task due: Follow up with Jane Doe"
    )


def test_the_job_runs_in_its_own_organization_only(
    org, other_org, rep, member, idle_lead, run_jobs, django_capture_on_commit_callbacks
):
    ours = idle_lead(owner_id=rep.pk)
    their_rep = member(role=Role.REP, organization=other_org)
    theirs = idle_lead(organization=other_org, owner_id=their_rep.pk)
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_in_organization(org.schema_name, create_idle_lead_follow_ups)
    connection.set_schema_to_public()
    [job] = run_jobs()
    assert job.is_finished, job.latest_result().exc_string
    assert job.return_value() == 1
    assert len(tasks_on(org, ours)) == 1
    assert tasks_on(other_org, theirs) == []


# ------------------------------------------------------------------------------------------ settings API


def test_settings_start_with_the_defaults_and_admins_change_them(org, api, member):
    admin_client = api(Role.ADMIN)
    assert admin_client.get(URL).json() == {
        "idle_days": 7,
        "enabled": True,
        "updated_at": None,
        "updated_by": None,
    }
    response = admin_client.patch(URL, {"idle_days": 14}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["idle_days"] == 14 and response.json()["enabled"] is True
    assert response.json()["updated_by"] is not None
    assert api(Role.VIEWER).get(URL).json()["idle_days"] == 14


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP, Role.VIEWER])
def test_only_admins_may_change_the_settings(api, role):
    client = api(role)
    for payload in ({"idle_days": 3}, {"idle_days": "nonsense"}):
        response = client.patch(URL, payload, format="json")
        assert response.status_code == 403, response.content
    assert client.get(URL).json()["idle_days"] == 7


def test_the_service_refuses_non_admins_too(org, rep):
    from shared_apps.core.errors import Forbidden

    with schema_context(org.schema_name), pytest.raises(Forbidden):
        services.follow_up_settings_update(actor=rep, changes={"idle_days": 3})


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"idle_days": 0}, "idle_days"),
        ({"idle_days": 366}, "idle_days"),
        ({"idle_days": 10**30}, "idle_days"),
        ({"idle_days": "soon"}, "idle_days"),
        ({"idle_days": 1.5}, "idle_days"),
        ({"idle_days": None}, "idle_days"),
        ({"enabled": "maybe"}, "enabled"),
        ({"idle_dayz": 3}, "idle_dayz"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field(api, payload, field):
    response = api(Role.ADMIN).patch(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_each_organization_has_its_own_settings(org, other_org, api):
    assert api(Role.ADMIN).patch(URL, {"idle_days": 3}, format="json").status_code == 200
    assert api(Role.ADMIN, organization=other_org).get(URL).json()["idle_days"] == 7
    assert client_for(org).get(URL).status_code == 401
