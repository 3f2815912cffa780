import pytest
from django_tenants.utils import schema_context

from shared_apps.core import events
from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.tasks import services
from tenant_apps.tasks.exceptions import TaskTransitionNotAllowed
from tenant_apps.tasks.models import Task, TaskStatus

ACTIONS = {"complete": "done", "cancel": "cancelled", "reopen": "open"}


@pytest.fixture
def task_in(make_record, admin, org):
    """task_in(status) creates a task on a new lead and brings it to `status` through the services."""

    def make(status: str = TaskStatus.OPEN, kind: str = "lead") -> Task:
        record = make_record(kind)
        with schema_context(org.schema_name):
            task = services.task_create(actor=admin, title="Follow up", **{f"{kind}_id": record.pk})
            if status != TaskStatus.OPEN:
                task = services.task_transition(task_id=task.pk, to_status=status, actor=admin)
            return task

    return make


@pytest.mark.parametrize(
    ("start", "action", "allowed"),
    [
        ("open", "complete", True),
        ("open", "cancel", True),
        ("open", "reopen", False),
        ("done", "complete", False),
        ("done", "cancel", False),
        ("done", "reopen", True),
        ("cancelled", "complete", False),
        ("cancelled", "cancel", False),
        ("cancelled", "reopen", True),
    ],
)
def test_every_status_transition(api, task_in, start, action, allowed):
    task = task_in(start)
    response = api(Role.REP).post(f"/api/tasks/{task.pk}/{action}/")
    if allowed:
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == ACTIONS[action]
        assert (body["completed_at"] is not None) == (ACTIONS[action] == "done")
    else:
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "task_transition_not_allowed"
        assert body["details"]["current"] == start
        assert body["details"]["requested"] == ACTIONS[action]


@pytest.mark.parametrize("kind", ["lead", "contact", "account", "opportunity"])
def test_completing_writes_one_task_activity_on_the_records_timeline(api, task_in, member, org, kind):
    task = task_in(kind=kind)
    client = api(Role.REP)
    assert client.post(f"/api/tasks/{task.pk}/complete/").status_code == 200
    assert client.post(f"/api/tasks/{task.pk}/complete/").status_code == 409
    with schema_context(org.schema_name):
        done = Activity.objects.filter(type=ActivityType.TASK, metadata__status="done")
        assert done.count() == 1
        activity = done.get()
        assert getattr(activity, f"{kind}_id") == getattr(task, f"{kind}_id")
        assert activity.metadata == {"task_id": task.pk, "status": "done"}
        assert activity.subject == "Task completed: Follow up"
        assert activity.occurred_at == Task.objects.get(pk=task.pk).completed_at


def test_a_contacts_task_activity_rolls_up_to_its_account(make_record, in_org, admin):
    account = make_record("account")
    contact = make_record("contact", account=account)
    task = services.task_create(actor=admin, title="t", contact_id=contact.pk)
    services.task_complete(task_id=task.pk, actor=admin)
    done = Activity.objects.get(type=ActivityType.TASK, metadata__status="done")
    assert (done.contact_id, done.account_id) == (contact.pk, account.pk)


def test_reopening_clears_completed_at_and_is_on_the_timeline(task_in, admin, in_org):
    task = task_in(TaskStatus.DONE)
    task = services.task_reopen(task_id=task.pk, actor=admin)
    assert (task.status, task.completed_at) == (TaskStatus.OPEN, None)
    statuses = list(
        Activity.objects.filter(lead_id=task.lead_id, type=ActivityType.TASK)
        .order_by("id")
        .values_list("metadata__status", flat=True)
    )
    assert statuses == ["open", "done", "open"]


def test_a_refused_transition_writes_nothing(task_in, admin, in_org):
    task = task_in(TaskStatus.CANCELLED)
    before = Activity.objects.count()
    with pytest.raises(TaskTransitionNotAllowed):
        services.task_complete(task_id=task.pk, actor=admin)
    assert Activity.objects.count() == before
    assert Task.objects.get(pk=task.pk).status == TaskStatus.CANCELLED


def test_transitions_announce_after_commit(task_in, admin, in_org, django_capture_on_commit_callbacks):
    task = task_in()
    received = []
    unsubscribe = events.subscribe("task.", received.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.task_complete(task_id=task.pk, actor=admin)
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(TaskTransitionNotAllowed):
            services.task_complete(task_id=task.pk, actor=admin)
    finally:
        unsubscribe()
    assert [(event.topic, event.record_id, event.data["status"]) for event in received] == [
        ("task.completed", task.pk, "done")
    ]
    assert (received[0].data["anchor_type"], received[0].data["anchor_id"]) == ("lead", task.lead_id)


def test_patch_changes_fields_but_never_the_status(api, task_in, member, org):
    task = task_in()
    rep = member(role=Role.REP)
    client = api(Role.REP)
    refused = client.patch(f"/api/tasks/{task.pk}/", {"status": "done"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["code"] == "use_transition"
    assert "/complete/" in refused.json()["errors"]["status"][0]

    moved = client.patch(f"/api/tasks/{task.pk}/", {"lead": task.lead_id + 1}, format="json")
    assert moved.status_code == 400
    assert "lead" in moved.json()["errors"]

    response = client.patch(
        f"/api/tasks/{task.pk}/",
        {"title": "Send the quote", "assignee": rep.pk, "due_at": "2031-01-02T09:00:00Z"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["title"], body["assignee"]["id"], body["status"]) == ("Send the quote", rep.pk, "open")
    assert body["due_at"].startswith("2031-01-02T09:00:00")
    with schema_context(org.schema_name):
        update = Activity.objects.filter(type=ActivityType.TASK).latest("id")
        assert update.subject == "Task updated: Send the quote"
        assert sorted(update.metadata["changes"]) == ["assignee", "due_at", "title"]
        # an unchanged PATCH changes nothing and writes nothing
        count = Activity.objects.count()
    assert (
        client.patch(f"/api/tasks/{task.pk}/", {"title": "Send the quote"}, format="json").status_code == 200
    )
    with schema_context(org.schema_name):
        assert Activity.objects.count() == count


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"due_at": "soon"}, "due_at"),
        ({"assignee": 424242}, "assignee"),
        ({"completed_at": "2030-01-01T00:00:00Z"}, "completed_at"),
    ],
)
def test_bad_patch_is_400_naming_the_field(api, task_in, body, field):
    task = task_in()
    response = api(Role.REP).patch(f"/api/tasks/{task.pk}/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_unknown_and_absurd_task_ids_are_404(api):
    client = api(Role.REP)
    for task_id in ("0", "424242", "99999999999999999999999999"):
        assert client.get(f"/api/tasks/{task_id}/").status_code == 404
        assert client.patch(f"/api/tasks/{task_id}/", {"title": "x"}, format="json").status_code == 404
        for action in ACTIONS:
            assert client.post(f"/api/tasks/{task_id}/{action}/").status_code == 404


def test_a_task_on_a_deleted_record_goes_with_it(api, task_in, org):
    from tenant_apps.leads.services import lead_delete, lead_restore

    task = task_in()
    client = api(Role.ADMIN)
    with schema_context(org.schema_name):
        lead_delete(lead_id=task.lead_id, actor=None)
    assert client.get(f"/api/tasks/{task.pk}/").status_code == 404
    assert client.post(f"/api/tasks/{task.pk}/complete/").status_code == 404
    assert client.get("/api/tasks/").json()["results"] == []
    with schema_context(org.schema_name):
        lead_restore(lead_id=task.lead_id, actor=None)
    assert client.get(f"/api/tasks/{task.pk}/").status_code == 200
