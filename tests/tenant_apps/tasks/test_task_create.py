from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role, User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.leads.models import Lead
from tenant_apps.tasks.models import Task, TaskStatus
from tests.conftest import client_for

KINDS = ["lead", "contact", "account", "opportunity"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_task_is_created_on_one_record_with_a_task_activity_on_its_timeline(kind, make_record, member, org):
    record = make_record(kind)
    rep = member(role=Role.REP)
    due = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    response = client_for(org, rep).post(
        "/api/tasks/",
        {
            "title": "  Call back  ",
            "description": "about pricing",
            "due_at": due.isoformat(),
            kind: record.pk,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["title"] == "Call back"
    assert body["status"] == "open"
    assert body["record"] == {"type": kind, "id": record.pk, "name": record.name}
    assert body[kind] == record.pk
    assert [body[other] for other in KINDS if other != kind] == [None, None, None]
    assert body["assignee"]["id"] == rep.pk  # defaults to the actor
    assert (body["created_by"], body["completed_at"], body["is_overdue"]) == (rep.pk, None, False)
    assert body["allowed_transitions"] == ["done", "cancelled"]
    with schema_context(org.schema_name):
        activity = Activity.objects.get(type=ActivityType.TASK, **{kind: record})
        assert activity.subject == "Task created: Call back"
        assert activity.metadata == {"task_id": body["id"], "status": "open"}
        assert activity.actor_id == rep.pk


def test_assignee_may_be_another_active_member_or_nobody(api, make_record, member, org):
    lead = make_record("lead")
    rep = member(role=Role.REP)
    client = api(Role.MANAGER)
    other = client.post("/api/tasks/", {"title": "t", "lead": lead.pk, "assignee": rep.pk}, format="json")
    assert other.json()["assignee"]["id"] == rep.pk
    nobody = client.post("/api/tasks/", {"title": "t", "lead": lead.pk, "assignee": None}, format="json")
    assert nobody.json()["assignee"] is None


def test_no_record_is_400_naming_every_record_field(api):
    response = api(Role.REP).post("/api/tasks/", {"title": "orphan"}, format="json")
    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == sorted(KINDS)


def test_several_records_is_400_naming_those_given(api, make_record):
    lead, contact = make_record("lead"), make_record("contact")
    response = api(Role.REP).post(
        "/api/tasks/", {"title": "t", "lead": lead.pk, "contact": contact.pk, "account": None}, format="json"
    )
    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == ["contact", "lead"]


def test_a_task_needs_a_live_record(api, make_record, org, other_org):
    client = api(Role.REP)
    deleted, merged, survivor = make_record("lead"), make_record("lead"), make_record("lead")
    account = make_record("account")
    theirs = make_record("account", organization=other_org, name="globex account")
    with schema_context(org.schema_name):
        Lead.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())
        Lead.objects.filter(pk=merged.pk).update(merged_into=survivor, merged_at=timezone.now())
        type(account).objects.filter(pk=account.pk).update(deleted_at=timezone.now())
    for field, record_id in [
        ("lead", deleted.pk),
        ("lead", merged.pk),
        ("lead", 424242),
        ("account", account.pk),
        ("account", theirs.pk + 1000),
    ]:
        response = client.post("/api/tasks/", {"title": "t", field: record_id}, format="json")
        assert response.status_code == 400, (field, record_id)
        assert field in response.json()["errors"]
    with schema_context(org.schema_name):
        assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": 42}, "title"),
        ({"title": "nul\x00"}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"title": "t", "description": "nul\x00"}, "description"),
        ({"title": "t", "due_at": "tomorrow"}, "due_at"),
        ({"title": "t", "due_at": 12}, "due_at"),
        ({"title": "t", "assignee": "me"}, "assignee"),
        ({"title": "t", "assignee": 424242}, "assignee"),
        ({"title": "t", "assignee": 99999999999999999999999}, "assignee"),
        ({"title": "t", "lead": "abc"}, "lead"),
        ({"title": "t", "lead": 99999999999999999999999}, "lead"),
        ({"title": "t", "lead": True}, "lead"),
        ({"title": "t", "priority": "high"}, "priority"),
        ({"title": "t", "status": "done"}, "status"),
    ],
)
def test_bad_task_input_is_400_naming_the_field(api, make_record, body, field):
    lead = make_record("lead")
    body = {"lead": lead.pk, **body} if "lead" not in body else body
    response = api(Role.REP).post("/api/tasks/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_an_inactive_member_cannot_be_assigned(api, make_record, member, org):
    lead, gone = make_record("lead"), member(role=Role.REP)
    with schema_context(org.schema_name):
        User.objects.filter(pk=gone.pk).update(is_active=False)
    response = api(Role.REP).post(
        "/api/tasks/", {"title": "t", "lead": lead.pk, "assignee": gone.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"assignee": ["Not an active member of this organization."]}


def test_malformed_json_is_400(api):
    response = api(Role.REP).post("/api/tasks/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_task_status_default_is_open(make_record, in_org, admin):
    from tenant_apps.tasks import services

    task = services.task_create(actor=admin, title="t", lead_id=make_record("lead").pk)
    assert (task.status, task.assignee_id, task.created_by_id) == (TaskStatus.OPEN, admin.pk, admin.pk)
