"""Due-task reminders: in-app and by email (a real local SMTP server), once per task and due time."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.organizations.jobs import enqueue_in_organization
from shared_apps.users.models import Role, User
from tenant_apps.leads.services import lead_delete
from tenant_apps.notifications.models import Notification
from tenant_apps.reminders.jobs import send_due_task_reminders
from tenant_apps.tasks import services as tasks
from tenant_apps.tasks.models import Task
from tests.conftest import client_for


@pytest.fixture
def rep(member):
    return member(role=Role.REP)


@pytest.fixture
def make_task(org, admin, make_lead):
    def make(title, *, organization=None, lead=None, **fields):
        organization = organization or org
        lead = lead or make_lead(organization=organization)
        with schema_context(organization.schema_name):
            return tasks.task_create(
                actor=admin if organization == org else None, title=title, lead_id=lead.pk, **fields
            )

    return make


def remind(organization, capture, now=None):
    """Run the job in the organization's schema; notification emails go out as the job's commits do."""
    with schema_context(organization.schema_name), capture(execute=True):
        return send_due_task_reminders(now=now)


def test_a_due_task_reminds_its_assignee_once(org, smtp, rep, make_task, django_capture_on_commit_callbacks):
    now = timezone.now()
    task = make_task("Call Jane", assignee_id=rep.pk, due_at=now - timedelta(minutes=5))
    make_task("Later", assignee_id=rep.pk, due_at=now + timedelta(hours=1))
    make_task("Nobody's", assignee_id=None, due_at=now - timedelta(hours=1))

    assert remind(org, django_capture_on_commit_callbacks) == 1
    assert remind(org, django_capture_on_commit_callbacks) == 0  # run again: nothing more

    [email] = smtp.messages
    assert email.recipients == [rep.email]
    assert email["Subject"] == "[LeadPulse] Task due: Call Jane"
    with schema_context(org.schema_name):
        [notification] = Notification.objects.filter(recipient=rep)
        task.refresh_from_db()
    assert task.reminded_at is not None
    assert notification.key == f"task-due:{task.pk}:{task.due_at.isoformat()}"
    assert notification.data["task_id"] == task.pk and notification.emailed_at is not None

    rows = client_for(org, rep).get("/api/notifications/").json()["results"]
    assert [(row["kind"], row["title"]) for row in rows] == [("task.due", "Task due: Call Jane")]


def test_a_retry_that_finds_its_notification_sends_no_second_email(
    org, smtp, rep, make_task, django_capture_on_commit_callbacks
):
    task = make_task("Call Jane", assignee_id=rep.pk, due_at=timezone.now() - timedelta(minutes=1))
    remind(org, django_capture_on_commit_callbacks)
    with schema_context(org.schema_name):
        # as if a second run had picked the task before the first one's reminded_at was visible
        Task.objects.filter(pk=task.pk).update(reminded_at=None)
    remind(org, django_capture_on_commit_callbacks)
    with schema_context(org.schema_name):
        assert Notification.objects.filter(recipient=rep).count() == 1
    assert len(smtp.messages) == 1


def test_a_task_pushed_back_after_its_reminder_gets_one_for_the_new_due_time(
    org, smtp, rep, admin, make_task, django_capture_on_commit_callbacks
):
    now = timezone.now()
    task = make_task("Call Jane", assignee_id=rep.pk, due_at=now - timedelta(minutes=1))
    remind(org, django_capture_on_commit_callbacks)
    new_due = now + timedelta(days=1)
    with schema_context(org.schema_name):
        tasks.task_update(task_id=task.pk, actor=admin, changes={"due_at": new_due})
    assert remind(org, django_capture_on_commit_callbacks) == 0
    assert remind(org, django_capture_on_commit_callbacks, now=new_due + timedelta(minutes=1)) == 1
    assert remind(org, django_capture_on_commit_callbacks, now=new_due + timedelta(minutes=2)) == 0
    with schema_context(org.schema_name):
        keys = sorted(Notification.objects.filter(recipient=rep).values_list("key", flat=True))
    assert keys == sorted(f"task-due:{task.pk}:{due.isoformat()}" for due in (task.due_at, new_due))
    assert len(smtp.messages) == 2


def test_no_reminder_for_closed_tasks_inactive_assignees_or_deleted_records(
    org, smtp, rep, admin, member, make_task, make_lead, django_capture_on_commit_callbacks
):
    due = timezone.now() - timedelta(minutes=1)
    done = make_task("Done already", assignee_id=rep.pk, due_at=due)
    gone = member(role=Role.REP)
    make_task("Former colleague's", assignee_id=gone.pk, due_at=due)
    lead = make_lead()
    make_task("On a deleted lead", lead=lead, assignee_id=rep.pk, due_at=due)
    with schema_context(org.schema_name):
        tasks.task_complete(task_id=done.pk, actor=rep)
        User.objects.filter(pk=gone.pk).update(is_active=False)
        lead_delete(lead_id=lead.pk, actor=admin)
    assert remind(org, django_capture_on_commit_callbacks) == 0
    assert smtp.messages == []


def test_overdue_tasks_are_listed_per_member(org, rep, member, make_task):
    other = member(role=Role.REP)
    now = timezone.now()
    make_task("mine, overdue", assignee_id=rep.pk, due_at=now - timedelta(days=2))
    make_task("mine, later", assignee_id=rep.pk, due_at=now + timedelta(days=2))
    make_task("theirs, overdue", assignee_id=other.pk, due_at=now - timedelta(days=1))

    def overdue(user):
        response = client_for(org, user).get("/api/tasks/overdue/")
        assert response.status_code == 200, response.content
        return [row["title"] for row in response.json()["results"]]

    assert overdue(rep) == ["mine, overdue"]
    assert overdue(other) == ["theirs, overdue"]


def test_the_job_reminds_in_its_own_organization_only(
    org, other_org, smtp, rep, member, make_task, run_jobs, django_capture_on_commit_callbacks
):
    due = timezone.now() - timedelta(minutes=1)
    make_task("Acme task", assignee_id=rep.pk, due_at=due)
    their_rep = member(role=Role.REP, organization=other_org)
    theirs = make_task("Globex task", organization=other_org, assignee_id=their_rep.pk, due_at=due)

    with django_capture_on_commit_callbacks(execute=True):
        enqueue_in_organization(org.schema_name, send_due_task_reminders)
    connection.set_schema_to_public()
    with django_capture_on_commit_callbacks() as after_commit:
        [job] = run_jobs()
    assert job.is_finished, job.latest_result().exc_string
    assert job.return_value() == 1
    assert smtp.messages == []  # emails leave after commit; a worker commits inside the job's schema
    with schema_context(org.schema_name):
        for callback in after_commit:
            callback()
    assert [message["Subject"] for message in smtp.messages] == ["[LeadPulse] Task due: Acme task"]
    with schema_context(other_org.schema_name):
        assert not Notification.objects.exists()
        assert Task.objects.get(pk=theirs.pk).reminded_at is None

    assert remind(other_org, django_capture_on_commit_callbacks) == 1
    assert smtp.messages[1].recipients == [their_rep.email]
