"""GET/POST /api/custom-fields/, PATCH/DELETE /api/custom-fields/<id>/: members read, admins write, every
change in the audit log; options relabel, removing one in use is refused or migrates; type changes with
data present are refused unless safe; deleting drops the index and the values (job)."""

from __future__ import annotations

from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role
from tenant_apps.customfields.indexes import index_exists
from tenant_apps.customfields.models import CustomField
from tenant_apps.leads.models import Lead

URL = "/api/custom-fields/"


def _define(client, **body):
    body = {"record_type": "lead", "type": "text", "label": body.get("key", "x").title(), **body}
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _lead(client, **custom):
    response = client.post("/api/leads/", {"name": "Jane", "custom": custom}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_admins_define_and_every_member_reads(org, api):
    admin = api(Role.ADMIN)
    field = _define(admin, key="tier", type="single_select", options=[{"label": "Gold"}, "Silver"])
    assert [o["label"] for o in field["options"]] == ["Gold", "Silver"]
    assert all(o["id"] for o in field["options"])
    assert field["index_state"] == "none"
    for role in (Role.VIEWER, Role.REP):
        listed = api(role).get(URL)
        assert listed.status_code == 200
        assert [f["key"] for f in listed.json()] == ["tier"]
    for role in (Role.MANAGER, Role.REP, Role.VIEWER):
        assert (
            api(role)
            .post(URL, {"record_type": "lead", "key": "x", "label": "X", "type": "text"}, format="json")
            .status_code
            == 403
        )
        assert api(role).patch(f"{URL}{field['id']}/", {"label": "Y"}, format="json").status_code == 403
        assert api(role).delete(f"{URL}{field['id']}/").status_code == 403


def test_every_change_is_audited(org, api):
    admin = api(Role.ADMIN)
    field = _define(admin, key="region")
    admin.patch(f"{URL}{field['id']}/", {"label": "Sales region"}, format="json")
    admin.delete(f"{URL}{field['id']}/")
    with schema_context(org.schema_name):
        # this field's (committed browser tests of the same database may have left others: append-only)
        events = list(
            AuditEvent.objects.filter(
                action__startswith="custom_field.", target_id=str(field["id"])
            ).order_by("id")
        )
    assert [event.action for event in events] == [
        "custom_field.created",
        "custom_field.updated",
        "custom_field.deleted",
    ]
    assert events[1].changes == {"label": ["Region", "Sales region"]}


def test_bad_definitions_are_400_naming_the_field(org, api):
    admin = api(Role.ADMIN)
    _define(admin, key="taken")
    for body, field in [
        ({"key": "Bad Key"}, "key"),
        ({"key": "ok", "type": "colour"}, "type"),
        ({"key": "ok", "record_type": "task"}, "record_type"),
        ({"key": "ok", "type": "single_select"}, "options"),
        ({"key": "ok", "type": "single_select", "options": ["A", "a"]}, "options[1].label"),
        ({"key": "ok", "type": "text", "options": ["A"]}, "options"),
        ({"key": "ok", "type": "long_text", "filterable": True}, "filterable"),
    ]:
        body = {"record_type": "lead", "label": "L", "type": "text", **body}
        response = admin.post(URL, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert field in response.json()["errors"], (body, response.json())
    clash = admin.post(
        URL, {"record_type": "lead", "key": "taken", "label": "T", "type": "text"}, format="json"
    )
    assert clash.status_code == 409
    # the same key on another record type is another field
    _define(admin, key="taken", record_type="contact")


def test_key_and_record_type_never_change(org, api):
    admin = api(Role.ADMIN)
    field = _define(admin, key="region")
    for change in ({"key": "zone"}, {"record_type": "contact"}):
        response = admin.patch(f"{URL}{field['id']}/", change, format="json")
        assert response.status_code == 400
        assert next(iter(change)) in response.json()["errors"]


def test_renaming_an_option_relabels_every_record(org, api):
    admin = api(Role.ADMIN)
    field = _define(admin, key="tier", type="single_select", options=["Gold", "Silver"])
    gold, silver = field["options"]
    lead = _lead(admin, tier="Gold")
    assert lead["custom"] == {"tier": gold["id"]}
    renamed = admin.patch(
        f"{URL}{field['id']}/",
        {"options": [{"id": gold["id"], "label": "Platinum"}, silver]},
        format="json",
    )
    assert renamed.status_code == 200, renamed.content
    assert [o["label"] for o in renamed.json()["options"]] == ["Platinum", "Silver"]
    # the value is the option's id: the record now reads as Platinum, and the new label is accepted
    assert admin.get(f"/api/leads/{lead['id']}/").json()["custom"] == {"tier": gold["id"]}
    assert _lead(admin, tier="platinum")["custom"] == {"tier": gold["id"]}


def test_removing_an_option_in_use_is_refused_unless_migrated(org, api):
    admin = api(Role.ADMIN)
    field = _define(admin, key="tier", type="single_select", options=["Gold", "Silver", "Bronze"])
    gold, silver, bronze = field["options"]
    first, second = _lead(admin, tier="Gold"), _lead(admin, tier="Gold")
    _lead(admin, tier="Silver")
    refused = admin.patch(f"{URL}{field['id']}/", {"options": [silver, bronze]}, format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "option_in_use"
    assert refused.json()["details"]["count"] == 2
    # an option nobody holds goes at once
    assert admin.patch(f"{URL}{field['id']}/", {"options": [gold, silver]}, format="json").status_code == 200
    moved = admin.patch(
        f"{URL}{field['id']}/", {"options": [silver], "migrate_to": {gold["id"]: silver["id"]}}, format="json"
    )
    assert moved.status_code == 200, moved.content
    for lead in (first, second):
        assert admin.get(f"/api/leads/{lead['id']}/").json()["custom"] == {"tier": silver["id"]}
    bad = admin.patch(
        f"{URL}{field['id']}/", {"options": [silver], "migrate_to": {"nope": None}}, format="json"
    )
    assert bad.status_code == 400 and "migrate_to" in bad.json()["errors"]


def test_multi_select_removal_migrates_into_the_remaining_list(org, api):
    admin = api(Role.ADMIN)
    field = _define(admin, key="topics", type="multi_select", options=["A", "B", "C"])
    a, b, c = field["options"]
    lead = _lead(admin, topics=["A", "B"])
    only_a = _lead(admin, topics=["A"])
    response = admin.patch(
        f"{URL}{field['id']}/", {"options": [b, c], "migrate_to": {a["id"]: None}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert admin.get(f"/api/leads/{lead['id']}/").json()["custom"] == {"topics": [b["id"]]}
    assert admin.get(f"/api/leads/{only_a['id']}/").json()["custom"] == {}


def test_type_change_with_data_is_refused_unless_safe(org, api):
    admin = api(Role.ADMIN)
    empty = _define(admin, key="empty")
    assert admin.patch(f"{URL}{empty['id']}/", {"type": "number"}, format="json").json()["type"] == "number"
    used = _define(admin, key="used")
    _lead(admin, used="hello")
    refused = admin.patch(f"{URL}{used['id']}/", {"type": "number"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "custom_field_in_use"
    assert refused.json()["details"]["count"] == 1
    widened = admin.patch(f"{URL}{used['id']}/", {"type": "long_text"}, format="json")
    assert widened.status_code == 200 and widened.json()["type"] == "long_text"


def test_single_select_becomes_multi_select_with_its_values(org, api):
    admin = api(Role.ADMIN)
    field = _define(admin, key="tier", type="single_select", options=["Gold"])
    lead = _lead(admin, tier="Gold")
    assert admin.patch(f"{URL}{field['id']}/", {"type": "multi_select"}, format="json").status_code == 200
    assert admin.get(f"/api/leads/{lead['id']}/").json()["custom"] == {"tier": [field["options"][0]["id"]]}


def test_filterable_fields_get_an_index_and_deleting_drops_it_and_the_values(
    org, api, run_jobs, django_capture_on_commit_callbacks
):
    admin = api(Role.ADMIN)
    with django_capture_on_commit_callbacks(execute=True):
        field = _define(admin, key="budget", type="number", filterable=True)
    assert field["index_state"] == "building"
    run_jobs()
    assert admin.get(f"{URL}{field['id']}/").json()["index_state"] == "ready"
    with schema_context(org.schema_name):
        name = CustomField.objects.get(pk=field["id"]).index_name
        assert index_exists(name)
    lead = _lead(admin, budget=10)
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.delete(f"{URL}{field['id']}/").status_code == 204
    # gone at once from definitions and records, before the job ran
    assert admin.get(URL).json() == []
    assert admin.get(f"/api/leads/{lead['id']}/").json()["custom"] == {}
    # the key stays taken until the job finished
    assert (
        admin.post(
            URL, {"record_type": "lead", "key": "budget", "label": "B", "type": "text"}, format="json"
        ).status_code
        == 409
    )
    run_jobs()
    with schema_context(org.schema_name):
        assert not index_exists(name)
        assert Lead.objects.get(pk=lead["id"]).custom == {}
        assert not CustomField.objects.filter(pk=field["id"]).exists()
        assert connection.schema_name == org.schema_name
    _define(admin, key="budget")


def test_turning_filterable_off_drops_the_index(org, api, run_jobs, django_capture_on_commit_callbacks):
    admin = api(Role.ADMIN)
    with django_capture_on_commit_callbacks(execute=True):
        field = _define(admin, key="region", filterable=True)
    run_jobs()
    with schema_context(org.schema_name):
        name = CustomField.objects.get(pk=field["id"]).index_name
        assert index_exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        changed = admin.patch(f"{URL}{field['id']}/", {"filterable": False}, format="json")
    assert changed.json()["index_state"] == "none"
    run_jobs()
    with schema_context(org.schema_name):
        assert not index_exists(name)
