"""Importing tasks: each row through the tasks' service onto one live record (named by id, email or name),
an unknown assignee imported unassigned with a warning, bad rows in errors.csv; an exported tasks CSV
imports back."""

from datetime import UTC, datetime

from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.accounts.services import account_create
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.tasks import services as task_services
from tenant_apps.tasks.models import Task, TaskStatus
from tests.conftest import client_for
from tests.tenant_apps.imports.conftest import assert_counts_add_up, csv_rows, run, upload

KEYS = ("title", "description", "due_at", "status", "assignee_id", "lead_id", "contact_id", "account_id")


def tasks(org):
    with schema_context(org.schema_name):
        return list(Task.objects.order_by("id").values())


def test_tasks_import_onto_their_records_and_bad_rows_go_to_errors_csv(
    imported, org, admin, manager, client, make_lead
):
    lead = make_lead(name="Jane Doe", email="jane@initech.example")
    with schema_context(org.schema_name):
        acme = account_create(actor=admin, name="Acme")
    done = imported(
        "Title,Due Date,Owner Email,Lead,Account,Status,Notes\n"
        f"Call Jane,2027-03-31T14:30:00Z,{manager.email},jane@initech.example,,,ask about Q2\n"
        f"Send quote,2027-04-01,nobody@nowhere.example,{lead.pk},,done,\n"
        "Renewal,,,,acme,,\n"
        "No record,,,,,,\n"
        "Two records,,,Jane Doe,Acme,,\n"
        "Bad day,someday,,Jane Doe,,,\n"
        "Ghost,,,ghost@nowhere.example,,,\n"
        "Odd,,,Jane Doe,,maybe,\n"
        ",,,Jane Doe,,,\n",
        record_type="task",
    )
    assert (done.status, done.imported, done.failed, done.warnings) == ("done", 3, 6, 1)
    assert_counts_add_up(done)
    call, quote, renewal = tasks(org)
    assert (call["title"], call["lead_id"], call["assignee_id"], call["description"]) == (
        "Call Jane",
        lead.pk,
        manager.pk,
        "ask about Q2",
    )
    assert call["due_at"] == datetime(2027, 3, 31, 14, 30, tzinfo=UTC)
    assert (call["status"], quote["status"], quote["assignee_id"]) == ("open", "done", None)
    assert (renewal["account_id"], renewal["lead_id"]) == (acme.pk, None)
    rows = csv_rows(client.get(f"/api/imports/{done.pk}/errors.csv"))
    assert {row["line"]: (row["outcome"], row["code"], row["field"]) for row in rows} == {
        "3": ("warning", "unknown_owner", "assignee"),
        "5": ("failed", "required", "lead"),
        "6": ("failed", "several_records", "account"),
        "7": ("failed", "invalid_date", "due_at"),
        "8": ("failed", "unknown_record", "lead"),
        "9": ("failed", "unknown_status", "status"),
        "10": ("failed", "required", "title"),
    }
    with schema_context(org.schema_name):  # the record's timeline has the tasks, as for ones made by hand
        entries = Activity.objects.filter(lead_id=lead.pk, type=ActivityType.TASK).order_by("id")
        assert [entry.metadata["status"] for entry in entries] == ["open", "open", "done"]


def test_a_dry_run_writes_no_task(imported, org, make_lead):
    make_lead(name="Jane Doe")
    done = imported("title,lead\nCall,Jane Doe\nBad,\n", record_type="task", dry_run=True)
    assert (done.imported, done.failed) == (1, 1)
    assert tasks(org) == []


def test_a_task_import_is_not_reverted(imported, client, make_lead):
    make_lead(name="Jane Doe")
    done = imported("title,lead\nCall,Jane Doe\n", record_type="task")
    response = client.post(f"/api/imports/{done.pk}/revert/")
    assert (response.status_code, response.json()["code"]) == (409, "import_not_revertible")


def test_an_exported_tasks_csv_imports_back(api, org, admin, manager, make_lead):
    lead = make_lead(name="Jane Doe")
    with schema_context(org.schema_name):
        acme = account_create(actor=admin, name="Acme")
        due = datetime(2027, 5, 4, 8, 15, tzinfo=UTC)
        task_services.task_create(
            actor=admin,
            title="Call",
            description="about =SUM()",
            due_at=due,
            assignee_id=manager.pk,
            lead_id=lead.pk,
        )
        done = task_services.task_create(actor=admin, title="Visit", assignee_id=None, account_id=acme.pk)
        task_services.task_complete(task_id=done.pk, actor=admin)
    before = tasks(org)
    exported = b"".join(api(Role.ADMIN).get("/api/exports/tasks.csv").streaming_content)
    response = upload(client_for(org, manager), exported, record_type="task")
    assert response.status_code == 202, response.content
    finished = run(org, response.json()["id"])
    assert (finished.imported, finished.failed, finished.warnings) == (2, 0, 0)
    after = tasks(org)
    assert [{key: task[key] for key in KEYS} for task in after[2:]] == [
        {key: task[key] for key in KEYS} for task in before
    ]
    assert after[3]["status"] == TaskStatus.DONE
