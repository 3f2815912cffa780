import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity
from tenant_apps.leads.models import Stage
from tenant_apps.sequences import services
from tenant_apps.sequences.models import Enrollment, Sequence

STEPS = [
    {"subject": "Hello {{ lead.first_name }}", "body": "Hi {{ lead.name }}"},
    {"subject": "Again", "body": "Bump", "delay_days": 3, "delay_hours": 4},
]
PLAIN_STEP = {"subject": "a", "body": "b"}


def test_create_then_read_a_sequence(api):
    client = api(Role.REP)
    response = client.post(
        "/api/sequences/", {"name": " Outreach ", "description": "Cold leads", "steps": STEPS}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Outreach" and body["active_enrollments"] == 0
    assert body["steps"] == [
        {
            "position": 1,
            "subject": "Hello {{ lead.first_name }}",
            "body": "Hi {{ lead.name }}",
            "delay_days": 0,
            "delay_hours": 0,
        },
        {"position": 2, "subject": "Again", "body": "Bump", "delay_days": 3, "delay_hours": 4},
    ]
    assert client.get(f"/api/sequences/{body['id']}/").json() == body
    assert [row["id"] for row in client.get("/api/sequences/").json()["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("index", "field", "template", "hint"),
    [
        (1, "subject", "Hi {{ lead.nmae }}", "Unknown variable 'lead.nmae'"),
        (0, "body", "{% if lead.name %}unclosed", "Unclosed tag"),
        (1, "body", "{% include 'secrets.txt' %}", "{% include %} tag is not available"),
        (0, "body", "{% load static %}", "{% load %} tag is not available"),
        (1, "body", "{{ lead.name|ljust:'999999999' }}", "filter 'ljust' is not available"),
        (0, "subject", "Hello {{ lead.name", "'{{' is never closed"),
        (1, "body", "{{ lead.owner.password }}", "Unknown variable"),
    ],
)
def test_a_template_error_is_a_400_naming_the_step(api, make_sequence, index, field, template, hint):
    steps = [dict(step) for step in STEPS]
    steps[index][field] = template
    client = api(Role.ADMIN)
    response = client.post("/api/sequences/", {"name": "Bad", "steps": steps}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "template_invalid" and body["details"] == {"position": index + 1}
    assert list(body["errors"]) == [f"steps[{index}].{field}"]
    assert body["message"].startswith(f"Step {index + 1}: ") and hint in body["message"]

    sequence = make_sequence(steps=STEPS)
    response = client.patch(
        f"/api/sequences/{sequence.pk}/", {"name": "Renamed", "steps": steps}, format="json"
    )
    assert response.status_code == 400 and f"steps[{index}].{field}" in response.json()["errors"]
    assert client.get(f"/api/sequences/{sequence.pk}/").json()["name"] == "Outreach"  # nothing changed


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"steps": STEPS}, "name"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x\x00"}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": "x", "steps": "one"}, "steps"),
        ({"name": "x", "steps": [{**PLAIN_STEP, "delay_days": -1}]}, "steps[0].delay_days"),
        ({"name": "x", "steps": [{**PLAIN_STEP, "delay_days": 10**30}]}, "steps[0].delay_days"),
        ({"name": "x", "steps": [{**PLAIN_STEP, "delay_hours": 24}]}, "steps[0].delay_hours"),
        ({"name": "x", "steps": [{**PLAIN_STEP, "delay_days": "soon"}]}, "steps[0].delay_days"),
        ({"name": "x", "steps": [{**PLAIN_STEP, "wait": 3}]}, "steps[0].wait"),
        ({"name": "x", "steps": [{"subject": "a"}]}, "steps[0].body"),
        ({"name": "x", "steps": [{"subject": "a", "body": "b"}] * 21}, "steps"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, payload, field):
    response = api(Role.ADMIN).post("/api/sequences/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_malformed_json_is_a_400(api):
    response = api(Role.ADMIN).generic(
        "POST", "/api/sequences/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400


def test_update_and_delete(api, org, make_sequence, make_lead, admin):
    client = api(Role.ADMIN)
    sequence = make_sequence(steps=STEPS)
    lead = make_lead(email="lead@customer.test")
    with schema_context(org.schema_name):
        enrollment = services.sequence_enroll(sequence_id=sequence.pk, lead_id=lead.pk, actor=admin)

    response = client.patch(
        f"/api/sequences/{sequence.pk}/",
        {"description": "new", "steps": [{"subject": "Only", "body": "one", "delay_hours": 2}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "new" and response.json()["active_enrollments"] == 1
    assert [step["subject"] for step in response.json()["steps"]] == ["Only"]

    assert client.delete(f"/api/sequences/{sequence.pk}/").status_code == 204
    assert client.get(f"/api/sequences/{sequence.pk}/").status_code == 404
    assert client.delete(f"/api/sequences/{sequence.pk}/").status_code == 404
    assert client.get(f"/api/sequences/{sequence.pk}/enrollments/").status_code == 404
    assert client.get("/api/sequences/").json()["results"] == []
    with schema_context(org.schema_name):
        enrollment.refresh_from_db()
        assert Sequence.objects.filter(pk=sequence.pk).exists()  # soft: the history stays
    assert (enrollment.status, enrollment.stop_reason) == ("stopped", "sequence_deleted")
    assert client.get("/api/sequences/999999/").status_code == 404
    assert client.patch("/api/sequences/999999/", {"name": "x"}, format="json").status_code == 404


def test_enroll_a_lead(api, org, make_sequence, make_lead):
    client = api(Role.REP)
    sequence = make_sequence(steps=STEPS)
    lead = make_lead(name="Jane", email="jane@customer.test")
    response = client.post(f"/api/sequences/{sequence.pk}/enroll/", {"lead": lead.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["lead"] == {"id": lead.pk, "name": "Jane", "email": "jane@customer.test"}
    assert (body["status"], body["next_position"], body["sent_steps"]) == ("active", 1, [])
    assert body["next_send_at"] == body["enrolled_at"]  # the first step has no delay
    with schema_context(org.schema_name):
        activity = Activity.objects.get(lead=lead, metadata__event="sequence_enrolled")
    assert activity.metadata["enrollment_id"] == body["id"]

    again = client.post(f"/api/sequences/{sequence.pk}/enroll/", {"lead": lead.pk}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_enrolled"
    # once finished, the lead may go through it again
    assert client.post(f"/api/enrollments/{body['id']}/unenroll/").status_code == 200
    assert (
        client.post(f"/api/sequences/{sequence.pk}/enroll/", {"lead": lead.pk}, format="json").status_code
        == 201
    )


def test_enroll_refusals(api, make_sequence, make_lead):
    client = api(Role.ADMIN)
    sequence, empty = make_sequence(steps=STEPS), make_sequence(steps=[], name="Draft")
    lead = make_lead(email="lead@customer.test")
    no_email = make_lead()
    won = make_lead(email="won@customer.test", stage=Stage.WON)
    lost = make_lead(email="lost@customer.test", stage=Stage.LOST)

    def enroll(sequence_id, payload):
        return client.post(f"/api/sequences/{sequence_id}/enroll/", payload, format="json")

    for payload, field in [
        ({}, "lead"),
        ({"lead": "abc"}, "lead"),
        ({"lead": 10**20}, "lead"),
        ({"lead": 999999}, "lead"),
        ({"lead": no_email.pk}, "lead"),
        ({"lead": lead.pk, "extra": 1}, "extra"),
    ]:
        response = enroll(sequence.pk, payload)
        assert response.status_code == 400 and field in response.json()["errors"], (payload, response.content)
    assert enroll(sequence.pk, {"lead": no_email.pk}).json()["code"] == "no_email"
    for closed in (won, lost):
        response = enroll(sequence.pk, {"lead": closed.pk})
        assert response.status_code == 409 and response.json()["code"] == "lead_closed"
    assert enroll(empty.pk, {"lead": lead.pk}).json()["code"] == "sequence_empty"
    assert enroll(999999, {"lead": lead.pk}).status_code == 404


def test_enrollments_list_and_filters(api, org, admin, make_sequence, make_lead):
    client = api(Role.VIEWER)
    sequence = make_sequence(steps=STEPS)
    leads = [make_lead(email=f"lead{index}@customer.test") for index in range(3)]
    with schema_context(org.schema_name):
        enrollments = [
            services.sequence_enroll(sequence_id=sequence.pk, lead_id=lead.pk, actor=admin) for lead in leads
        ]
        services.sequence_unenroll(enrollment_id=enrollments[0].pk, actor=admin)
    url = f"/api/sequences/{sequence.pk}/enrollments/"
    assert [row["id"] for row in client.get(url).json()["results"]] == [e.pk for e in reversed(enrollments)]
    assert [row["id"] for row in client.get(f"{url}?status=stopped").json()["results"]] == [enrollments[0].pk]
    assert [row["id"] for row in client.get(f"{url}?lead={leads[1].pk}").json()["results"]] == [
        enrollments[1].pk
    ]
    for query in ("status=paused", "lead=x", "cursor=bogus"):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400 and query.split("=")[0] in response.json()["errors"]


def test_lists_cost_the_same_queries_whatever_the_page_size(api, org, admin, make_sequence, make_lead, smtp):
    from tenant_apps.sequences.jobs import send_due_sequence_steps

    client = api(Role.ADMIN)
    sequences = [make_sequence(steps=STEPS, name=f"s{index}") for index in range(6)]
    with schema_context(org.schema_name):
        for index in range(6):
            lead = make_lead(email=f"lead{index}@customer.test", owner_id=admin.pk)
            services.sequence_enroll(sequence_id=sequences[0].pk, lead_id=lead.pk, actor=admin)
        send_due_sequence_steps()  # each enrollment now has a sent step
    client.get("/api/sequences/?page_size=1")  # warm routing cache and token last_used_at
    # search_path, token, the page, its prefetch (steps or sent steps); enrollments: + the sequence check
    for url, bound in (("/api/sequences/", 4), (f"/api/sequences/{sequences[0].pk}/enrollments/", 5)):
        counts = []
        for size in (2, 6):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"{url}?page_size={size}")
            assert len(response.json()["results"]) == size
            counts.append(len(queries))
        assert counts[0] == counts[1] <= bound, (url, counts)


def test_organizations_never_see_each_others_sequences(api, org, other_org, make_sequence, make_lead, admin):
    ours = make_sequence(steps=STEPS, name="acme secret")
    theirs = make_sequence(steps=STEPS, name="globex secret", organization=other_org)
    globex_lead = make_lead(email="g@customer.test", organization=other_org)
    acme, globex = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)

    assert [row["name"] for row in acme.get("/api/sequences/").json()["results"]] == ["acme secret"]
    assert [row["name"] for row in globex.get("/api/sequences/").json()["results"]] == ["globex secret"]
    assert globex.get(f"/api/sequences/{theirs.pk}/").json()["name"] == "globex secret"
    # ids are per schema: acme's id means nothing (or another sequence) on globex's host
    response = globex.get(f"/api/sequences/{ours.pk}/")
    assert response.status_code == 404 or response.json()["name"] == "globex secret"

    response = globex.post(f"/api/sequences/{theirs.pk}/enroll/", {"lead": globex_lead.pk}, format="json")
    assert response.status_code == 201
    assert response.json()["lead"]["email"] == "g@customer.test"
    assert acme.get(f"/api/sequences/{ours.pk}/enrollments/").json()["results"] == []
    assert acme.post(f"/api/enrollments/{response.json()['id']}/unenroll/").status_code == 404
    with schema_context(org.schema_name):
        assert not Enrollment.objects.exists()


def test_signed_out_requests_are_refused(org):
    from tests.conftest import client_for

    assert client_for(org).get("/api/sequences/").status_code == 401
