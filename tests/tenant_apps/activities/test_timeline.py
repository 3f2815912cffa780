import itertools
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.organizations.services import organization_provision
from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.leads import services
from tenant_apps.leads.models import Lead, Stage
from tests.conftest import PASSWORD


def refused(sql_or_callable):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        if callable(sql_or_callable):
            sql_or_callable()
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql_or_callable)


def test_the_database_refuses_to_rewrite_the_timeline(make_lead, in_org):
    lead = make_lead()
    activity = Activity.objects.get(lead=lead)
    refused(f"UPDATE activities_activity SET body = 'rewritten' WHERE id = {activity.pk}")
    refused(f"DELETE FROM activities_activity WHERE id = {activity.pk}")
    refused("SET CONSTRAINTS ALL IMMEDIATE; TRUNCATE activities_activity")  # (flush deferred FK checks first)
    refused(lambda: Activity.objects.filter(pk=activity.pk).update(subject="x"))
    refused(lambda: Activity.objects.filter(pk=activity.pk).delete())
    assert Activity.objects.get(pk=activity.pk).body == activity.body


def test_a_newly_provisioned_organization_has_the_trigger_too(public):
    organization = organization_provision(
        name="Fresh", slug="fresh", admin_email="a@fresh.test", admin_password=PASSWORD
    )
    with schema_context(organization.schema_name):
        lead = services.lead_create(actor=None, name="First")
        refused(lambda: Activity.objects.filter(lead=lead).update(subject="x"))


def test_there_is_no_route_to_change_or_delete_activities(api, make_lead):
    lead = make_lead()
    client = api(Role.ADMIN)
    url = f"/api/leads/{lead.pk}/activities/"
    assert client.patch(url, {}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    assert client.put(url, {}, format="json").status_code == 405


def test_logging_a_call_updates_last_contacted_at_only_forward(api, make_lead, org):
    lead = make_lead()
    client = api(Role.MANAGER)
    url = f"/api/leads/{lead.pk}/activities/"
    recent = timezone.now() - timedelta(hours=1)
    response = client.post(
        url,
        {
            "type": "CALL",
            "subject": "Intro",
            "metadata": {"duration_seconds": 340},
            "occurred_at": recent.isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["metadata"] == {"duration_seconds": 340}
    older = (recent - timedelta(days=3)).isoformat()
    future = (timezone.now() + timedelta(days=3)).isoformat()
    client.post(url, {"type": "MEETING", "occurred_at": older}, format="json")
    client.post(url, {"type": "MEETING", "subject": "Scheduled demo", "occurred_at": future}, format="json")
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=lead.pk).last_contacted_at == recent


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "STAGE_CHANGE"}, "type"),
        ({"type": "CREATED"}, "type"),
        ({"type": "FAX"}, "type"),
        ({"type": "CALL", "metadata": [1, 2]}, "metadata"),
        ({"type": "CALL", "metadata": {"k": "nul\u0000"}}, "metadata"),
        ({"type": "CALL", "metadata": {"blob": "x" * 40_000}}, "metadata"),
        ({"type": "CALL", "occurred_at": "yesterday"}, "occurred_at"),
        ({"type": "NOTE", "body": "nul\x00"}, "body"),
    ],
)
def test_bad_activity_input_is_400(api, make_lead, body, field):
    lead = make_lead()
    response = api(Role.MANAGER).post(f"/api/leads/{lead.pk}/activities/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_timeline_is_newest_first_cursor_paginated_and_filterable(api, make_lead):
    lead = make_lead(stage=Stage.QUALIFIED)  # CREATED + 2 STAGE_CHANGE
    client = api(Role.MANAGER)
    for index in range(3):
        client.post(f"/api/leads/{lead.pk}/activities/", {"type": "NOTE", "body": f"n{index}"}, format="json")
    first = client.get(f"/api/leads/{lead.pk}/activities/?page_size=4").json()
    assert [row["type"] for row in first["results"]] == ["NOTE", "NOTE", "NOTE", "STAGE_CHANGE"]
    assert [row["body"] for row in first["results"][:3]] == ["n2", "n1", "n0"]
    second = client.get(first["next"]).json()
    assert [row["type"] for row in second["results"]] == ["STAGE_CHANGE", "CREATED"]
    assert second["next"] is None

    changes = client.get(f"/api/leads/{lead.pk}/activities/?type=STAGE_CHANGE").json()["results"]
    assert [row["metadata"]["to"] for row in changes] == ["QUALIFIED", "CONTACTED"]
    assert client.get(f"/api/leads/{lead.pk}/activities/?type=BOGUS").status_code == 400
    assert client.get(f"/api/leads/{lead.pk}/activities/?cursor=garbage").status_code == 400


def test_owner_change_writes_owner_change(api, make_lead, member, org):
    lead = make_lead()
    rep = member(role=Role.REP)
    response = api(Role.MANAGER).patch(
        f"/api/leads/{lead.pk}/", {"owner": rep.pk, "value": "10.00"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["owner"]["id"] == rep.pk
    with schema_context(org.schema_name):
        owner_change = Activity.objects.get(lead_id=lead.pk, type=ActivityType.OWNER_CHANGE)
        assert owner_change.metadata == {"from": None, "to": rep.pk}
        update = Activity.objects.get(lead_id=lead.pk, type=ActivityType.SYSTEM)
        assert update.metadata == {"event": "updated", "changes": {"value": ["0.00", "10.00"]}}


def test_stage_history_has_entered_left_and_duration(api, make_lead):
    lead = make_lead(stage=Stage.PROPOSAL)
    history = api(Role.VIEWER).get(f"/api/leads/{lead.pk}/stage-history/").json()
    assert [span["stage"] for span in history] == ["NEW", "CONTACTED", "QUALIFIED", "PROPOSAL"]
    for span, following in itertools.pairwise(history):
        assert span["left_at"] == following["entered_at"]
        assert span["duration_seconds"] >= 0 and not span["current"]
    assert history[-1]["left_at"] is None and history[-1]["current"]


def test_notes_are_on_the_timeline(api, make_lead, org):
    lead = make_lead()
    client = api(Role.MANAGER)
    created = client.post(f"/api/leads/{lead.pk}/notes/", {"body": "Prefers email"}, format="json")
    assert created.status_code == 201
    assert client.get(f"/api/leads/{lead.pk}/notes/").json()["results"][0]["body"] == "Prefers email"
    assert client.post(f"/api/leads/{lead.pk}/notes/", {"body": ""}, format="json").status_code == 400
    with schema_context(org.schema_name):
        note = Activity.objects.get(lead_id=lead.pk, type=ActivityType.NOTE)
        assert note.body == "Prefers email"
        assert Lead.objects.get(pk=lead.pk).last_contacted_at == note.occurred_at


def test_a_logged_note_is_a_note_too(api, make_lead):
    lead = make_lead()
    client = api(Role.MANAGER)
    logged = client.post(
        f"/api/leads/{lead.pk}/activities/", {"type": "NOTE", "body": "via timeline"}, format="json"
    )
    assert (logged.status_code, logged.json()["type"]) == (201, "NOTE")
    assert [note["body"] for note in client.get(f"/api/leads/{lead.pk}/notes/").json()["results"]] == [
        "via timeline"
    ]


def test_an_equal_value_is_not_a_change(api, make_lead, org):
    lead = make_lead(value="40800.00")
    response = api(Role.ADMIN).patch(f"/api/leads/{lead.pk}/", {"value": "40800"}, format="json")
    assert response.json()["value"] == "40800.00"
    with schema_context(org.schema_name):
        assert not Activity.objects.filter(lead_id=lead.pk, type=ActivityType.SYSTEM).exists()
