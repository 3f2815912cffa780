"""Issue 15: inside one organization a rep sees and changes only what the visibility policy lets them, on
every route. Each test aims rep1 at rep2's records of the same shape as rep1's own (which they do see)."""

from __future__ import annotations

import csv
import io

import pytest
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity
from tenant_apps.leads.models import Lead
from tenant_apps.sequences.models import Enrollment, Sequence, SequenceStep
from tenant_apps.tasks.models import Task
from tenant_apps.tasks.services import task_create
from tests.conftest import client_for
from tests.tenant_apps.access.conftest import reps_see_all


def names(response):
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def csv_of(response):
    assert response.status_code == 200, response.content
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.DictReader(io.StringIO(content.decode())))


# ---------------------------------------------------------------------------------- segments and presets


def segment_results(client, record_type, definition):
    created = client.post(
        "/api/segments/",
        {"name": "s", "record_type": record_type, "definition": definition},
        format="json",
    )
    assert created.status_code == 201, created.content
    response = client.get(f"/api/segments/{created.json()['id']}/results/?page_size=200")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_segment_on_another_reps_leads_lists_none_of_them(walls):
    rep1, rep2 = walls.rep1, walls.rep2
    owned_by_rep2 = {"conditions": [{"field": "owner", "op": "eq", "value": rep2.rep.pk}]}
    body = segment_results(rep1.client, "lead", owned_by_rep2)
    assert (body["count"], body["results"]) == (0, [])
    # the same segment asked by rep2 lists their leads; an open segment shows rep1 their own + unassigned
    assert segment_results(rep2.client, "lead", owned_by_rep2)["count"] == 2
    everything = segment_results(rep1.client, "lead", {})
    assert sorted(row["name"] for row in everything["results"]) == [
        "Converted of rep1",
        "Lead of rep1",
        "Unassigned lead",
    ]
    assert everything["count"] == 3


def test_a_segment_on_deals_lists_only_the_reps_own(walls):
    body = segment_results(walls.rep1.client, "opportunity", {})
    assert ([row["name"] for row in body["results"]], body["count"]) == (["Deal of rep1"], 1)


def test_presets_list_and_count_only_visible_leads_and_deals(walls):
    with schema_context(walls.organization.schema_name):
        Lead.objects.update(last_contacted_at=None)  # every lead idle: the preset matches all five
    client = walls.rep1.client
    idle = client.get("/api/segments/presets/no_activity_30_days/results/?page_size=200")
    assert idle.status_code == 200, idle.content
    assert sorted(row["name"] for row in idle.json()["results"]) == [
        "Converted of rep1",
        "Lead of rep1",
        "Unassigned lead",
    ]
    assert idle.json()["count"] == 3


def test_reps_see_every_segment_row_when_the_organization_lets_them(walls):
    reps_see_all(walls.organization, True)
    owned_by_rep2 = {"conditions": [{"field": "owner", "op": "eq", "value": walls.rep2.rep.pk}]}
    assert segment_results(walls.rep1.client, "lead", owned_by_rep2)["count"] == 2


# ----------------------------------------------------------------------------------------------- tasks


@pytest.mark.parametrize("kind", ["lead", "opportunity"])
def test_a_rep_cannot_create_a_task_on_a_hidden_record_nor_learn_its_name(walls, kind):
    hidden = walls.rep2.lead if kind == "lead" else walls.rep2.deal
    response = walls.rep1.client.post("/api/tasks/", {"title": "Call", kind: hidden.pk}, format="json")
    missing = walls.rep1.client.post("/api/tasks/", {"title": "Call", kind: 999_999}, format="json")
    # answered exactly like a record that does not exist
    assert response.status_code == missing.status_code == 400
    assert response.json()["code"] == missing.json()["code"] == "unknown_record"
    assert kind in response.json()["errors"]
    assert hidden.name not in response.content.decode()
    with schema_context(walls.organization.schema_name):
        assert not Task.objects.filter(**{kind: hidden}).exists()
    own = walls.rep1.lead if kind == "lead" else walls.rep1.deal
    assert (
        walls.rep1.client.post("/api/tasks/", {"title": "Call", kind: own.pk}, format="json").status_code
        == 201
    )


@pytest.fixture
def hidden_task(walls):
    """A task on rep2's lead, assigned to rep1 (so 'assignee=me' cannot be the reason it is hidden)."""
    with schema_context(walls.organization.schema_name):
        theirs = task_create(
            actor=None, title="Hidden task", assignee_id=walls.rep1.rep.pk, lead_id=walls.rep2.lead.pk
        )
        on_deal = task_create(actor=None, title="Hidden deal task", opportunity_id=walls.rep2.deal.pk)
        mine = task_create(
            actor=None, title="My task", assignee_id=walls.rep1.rep.pk, lead_id=walls.rep1.lead.pk
        )
    return theirs, on_deal, mine


def test_tasks_on_hidden_records_are_not_listed(walls, hidden_task):
    _theirs, _on_deal, mine = hidden_task
    listed = walls.rep1.client.get("/api/tasks/?page_size=100")
    assert listed.status_code == 200, listed.content
    assert [row["id"] for row in listed.json()["results"]] == [mine.pk]
    by_record = walls.rep1.client.get(f"/api/tasks/?lead={walls.rep2.lead.pk}")
    assert by_record.json()["results"] == []
    # a manager sees all three
    manager = client_for(walls.organization, _manager(walls))
    assert len(manager.get("/api/tasks/?page_size=100").json()["results"]) == 3


def _manager(walls):
    from shared_apps.users.models import User

    with schema_context(walls.organization.schema_name):
        return User.objects.create_user("boss@acme.test", "correct-horse-battery", role=Role.MANAGER)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/tasks/{id}/", None),
        ("patch", "/api/tasks/{id}/", {"title": "Mine now"}),
        ("post", "/api/tasks/{id}/complete/", None),
        ("post", "/api/tasks/{id}/cancel/", None),
    ],
)
def test_tasks_on_hidden_records_cannot_be_read_completed_or_edited(walls, hidden_task, method, path, body):
    theirs, on_deal, _mine = hidden_task
    for task in (theirs, on_deal):
        response = getattr(walls.rep1.client, method)(path.format(id=task.pk), body, format="json")
        assert response.status_code == 404, response.content
        assert task.title not in response.content.decode()
        with schema_context(walls.organization.schema_name):
            task.refresh_from_db()
            assert (task.status, task.title) == ("open", task.title)
    # rep2, who sees the record, may
    mine = getattr(walls.rep2.client, method)(path.format(id=theirs.pk), body, format="json")
    assert mine.status_code == 200, mine.content


# ------------------------------------------------------------------------------------------- sequences


@pytest.fixture
def sequence(walls):
    with schema_context(walls.organization.schema_name):
        sequence = Sequence.objects.create(name="Outreach")
        SequenceStep.objects.create(sequence=sequence, position=1, subject="Hi {{ lead.name }}", body="Hello")
    return sequence


def test_a_rep_cannot_enrol_a_hidden_lead(walls, sequence):
    url = f"/api/sequences/{sequence.pk}/enroll/"
    response = walls.rep1.client.post(url, {"lead": walls.rep2.lead.pk}, format="json")
    missing = walls.rep1.client.post(url, {"lead": 999_999}, format="json")
    assert response.status_code == missing.status_code == 400
    assert response.json()["code"] == missing.json()["code"] == "unknown_record"
    assert walls.rep2.lead.name not in response.content.decode()
    with schema_context(walls.organization.schema_name):
        assert not Enrollment.objects.filter(lead=walls.rep2.lead).exists()  # so the worker emails nobody
    assert walls.rep1.client.post(url, {"lead": walls.rep1.lead.pk}, format="json").status_code == 201


def test_enrolments_of_hidden_leads_are_not_listed_nor_stopped(walls, sequence):
    url = f"/api/sequences/{sequence.pk}/enroll/"
    theirs = walls.rep2.client.post(url, {"lead": walls.rep2.lead.pk}, format="json").json()["id"]
    walls.rep1.client.post(url, {"lead": walls.rep1.lead.pk}, format="json")
    listed = walls.rep1.client.get(f"/api/sequences/{sequence.pk}/enrollments/")
    assert [row["lead"]["id"] for row in listed.json()["results"]] == [walls.rep1.lead.pk]
    assert walls.rep1.client.post(f"/api/enrollments/{theirs}/unenroll/").status_code == 404
    with schema_context(walls.organization.schema_name):
        assert Enrollment.objects.get(pk=theirs).status == "active"


# ------------------------------------------------------------------------------------ timelines, exports


def test_an_account_timeline_carries_only_visible_leads_and_deals_activities(walls):
    url = f"/api/accounts/{walls.account.pk}/activities/?page_size=200"
    subjects = {row["subject"] for row in walls.rep1.client.get(url).json()["results"]}
    assert "Email on Deal of rep1" in subjects and "Email on Converted of rep1" in subjects
    assert not [subject for subject in subjects if "rep2" in subject]
    body = walls.rep1.client.get(url).content.decode()
    assert "rep2 secret" not in body and "secret of rep2" not in body
    # rep2's view is the mirror image, a manager's has both
    theirs = {row["subject"] for row in walls.rep2.client.get(url).json()["results"]}
    assert "Email on Deal of rep2" in theirs and not [subject for subject in theirs if "rep1" in subject]


def test_an_account_timeline_still_reads_its_index_ranges(walls):
    """The visibility condition joins each row's lead / deal by primary key: the roll-up's activities are
    still found through the account and lead indexes, never by scanning the table."""
    from django.db import connection

    from tenant_apps.activities.selectors import activity_list

    with schema_context(walls.organization.schema_name):
        timeline = activity_list(record=walls.account, actor=walls.rep1.rep)
        sql, params = timeline.order_by("-created_at", "-id")[:50].query.sql_with_params()
        with connection.cursor() as cursor:
            # With the few rows a test holds, scanning and hashing whole tables is cheapest and the planner
            # picks it; at size it reads the index ranges and looks each row's lead up by key. Scans and hash
            # and merge joins are priced out so that the plan shows whether that shape is possible at all (a
            # condition written as an aggregate or a subquery over every visible lead would still scan).
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_hashjoin = off")
            cursor.execute("SET LOCAL enable_mergejoin = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on activities_activity" not in plan, plan
    assert "Seq Scan on leads_lead" not in plan, plan
    assert "Index Cond: (account_id = " in plan, plan
    assert "Index Cond: (lead_id = ANY" in plan, plan  # the converted leads' range
    assert "leads_lead_pkey" in plan, plan


def test_activities_export_leaves_out_hidden_leads_and_deals(walls):
    rows = csv_of(walls.rep1.client.get("/api/exports/activities.csv"))
    subjects = {row["subject"] for row in rows}
    assert "Email on Deal of rep1" in subjects
    assert not [row for row in rows if "rep2" in row["subject"] or "rep2" in row["body"]]
    hidden_ids = {str(walls.rep2.lead.pk), str(walls.rep2.converted.pk)}
    assert not [row for row in rows if row["lead_id"] in hidden_ids]
    assert not [row for row in rows if row["opportunity_id"] == str(walls.rep2.deal.pk)]


def _job_export(walls, record_type, run_jobs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = walls.rep1.client.post("/api/exports/", {"record_type": record_type}, format="json")
    assert created.status_code == 202, created.content
    from django.db import connection

    connection.set_schema_to_public()
    [job] = run_jobs("low")
    assert job.is_finished, job.latest_result().exc_string
    return csv_of(walls.rep1.client.get(f"/api/exports/{created.json()['id']}/download/"))


def test_a_reps_job_built_export_follows_the_organization_setting(
    walls, run_jobs, django_capture_on_commit_callbacks
):
    rows = _job_export(walls, "leads", run_jobs, django_capture_on_commit_callbacks)
    assert sorted(row["name"] for row in rows) == ["Converted of rep1", "Lead of rep1", "Unassigned lead"]

    reps_see_all(walls.organization, True)
    rows = _job_export(walls, "leads", run_jobs, django_capture_on_commit_callbacks)
    with schema_context(walls.organization.schema_name):
        every = sorted(Lead.objects.alive().values_list("name", flat=True))
    assert sorted(row["name"] for row in rows) == every
    assert "Lead of rep2" in every


def test_a_reps_job_built_activities_export_leaves_out_hidden_records(
    walls, run_jobs, django_capture_on_commit_callbacks
):
    rows = _job_export(walls, "activities", run_jobs, django_capture_on_commit_callbacks)
    assert rows and not [row for row in rows if "rep2" in row["subject"]]
    with schema_context(walls.organization.schema_name):
        assert Activity.objects.filter(subject__contains="rep2").exists()


# ------------------------------------------------------------------------------- analytics and dedupe


def test_a_rep_cannot_filter_the_pipeline_by_another_owner(walls):
    client = walls.rep1.client
    refused = client.get(f"/api/analytics/pipeline/?owner={walls.rep2.rep.pk}")
    assert refused.status_code == 403
    assert refused.json()["code"] == "owner_not_visible"
    assert client.get("/api/analytics/pipeline/?owner=me").status_code == 200
    assert client.get("/api/analytics/pipeline/?owner=none").status_code == 200
    manager = client_for(walls.organization, _manager(walls))
    assert manager.get(f"/api/analytics/pipeline/?owner={walls.rep2.rep.pk}").status_code == 200


def test_a_duplicate_of_a_hidden_lead_does_not_reveal_it(walls):
    response = walls.rep1.client.post(
        "/api/leads/", {"name": "Someone", "email": "rep2@customer.test"}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "duplicate_lead"
    assert body["details"] == {"matched_on": "email"}
    assert str(walls.rep2.lead.pk) not in body["message"] and walls.rep2.lead.name not in body["message"]
    # a duplicate of a lead they may see is named, as before
    visible = walls.rep1.client.post(
        "/api/leads/", {"name": "Someone", "email": "nobody@customer.test"}, format="json"
    )
    assert visible.json()["details"]["existing_id"] == walls.unassigned.pk


def test_search_finds_no_note_of_a_hidden_deal(walls):
    response = walls.rep1.client.get("/api/search/?q=secret&types=note")
    assert response.status_code == 200, response.content
    snippets = " ".join(row["snippet"] for row in response.json()["results"])
    assert "rep1" in snippets and "rep2" not in snippets
