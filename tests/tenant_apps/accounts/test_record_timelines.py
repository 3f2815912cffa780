"""Notes and timelines of accounts, contacts and opportunities."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import Activity, ActivityType, Note
from tenant_apps.contacts.models import Contact

RECORD_TYPES = ["account", "contact", "opportunity"]


@pytest.fixture
def make_record(make_account, make_contact, make_opportunity):
    def make(record_type, **fields):
        if record_type == "contact":
            return make_contact(account=make_account(), **fields)
        return {"account": make_account, "opportunity": make_opportunity}[record_type](**fields)

    return make


def url_of(record_type, record):
    return f"/api/{'opportunities' if record_type == 'opportunity' else record_type + 's'}/{record.pk}/"


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_notes_are_on_the_timeline(api, make_record, org, record_type):
    record = make_record(record_type)
    client = api(Role.MANAGER)
    url = url_of(record_type, record)
    created = client.post(f"{url}notes/", {"body": "Prefers email"}, format="json")
    assert created.status_code == 201, created.content
    assert [row["body"] for row in client.get(f"{url}notes/").json()["results"]] == ["Prefers email"]
    assert client.post(f"{url}notes/", {"body": ""}, format="json").status_code == 400
    assert client.post(f"{url}notes/", {"body": "nul\x00"}, format="json").status_code == 400
    with schema_context(org.schema_name):
        note = Note.objects.get(pk=created.json()["id"])
        assert getattr(note, f"{record_type}_id") == record.pk
        activity = Activity.objects.get(**{record_type: record}, type=ActivityType.NOTE)
        assert (activity.body, activity.metadata) == ("Prefers email", {"note_id": note.pk})
    timeline = client.get(f"{url}activities/?type=NOTE").json()["results"]
    assert [(row["type"], row[record_type]) for row in timeline] == [("NOTE", record.pk)]


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_members_log_activities_and_the_account_moves_forward(api, make_record, org, record_type):
    record = make_record(record_type)
    account_id = record.pk if record_type == "account" else record.account_id
    with schema_context(org.schema_name):
        Account.objects.filter(pk=account_id).update(last_activity_at=None)
    client = api(Role.MANAGER)
    url = f"{url_of(record_type, record)}activities/"
    recent = timezone.now() - timedelta(hours=1)
    response = client.post(
        url,
        {"type": "CALL", "subject": "Intro", "metadata": {"minutes": 12}, "occurred_at": recent.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["type"], body["subject"], body["metadata"], body[record_type]) == (
        "CALL",
        "Intro",
        {"minutes": 12},
        record.pk,
    )
    client.post(
        url, {"type": "MEETING", "occurred_at": (recent - timedelta(days=3)).isoformat()}, format="json"
    )
    future = (timezone.now() + timedelta(days=3)).isoformat()
    client.post(url, {"type": "MEETING", "subject": "Scheduled demo", "occurred_at": future}, format="json")
    with schema_context(org.schema_name):
        # older and future activities don't move it
        assert Account.objects.get(pk=account_id).last_activity_at == recent


def test_contact_activities_move_last_contacted_at_only_forward(api, make_contact, org):
    contact = make_contact()
    client = api(Role.MANAGER)
    url = f"/api/contacts/{contact.pk}/activities/"
    recent = timezone.now() - timedelta(hours=1)
    client.post(url, {"type": "EMAIL", "occurred_at": recent.isoformat()}, format="json")
    client.post(url, {"type": "CALL", "occurred_at": (recent - timedelta(days=1)).isoformat()}, format="json")
    client.post(url, {"type": "TASK", "subject": "Follow up"}, format="json")  # not a contact
    with schema_context(org.schema_name):
        assert Contact.objects.get(pk=contact.pk).last_contacted_at == recent


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "STAGE_CHANGE"}, "type"),
        ({"type": "STATUS_CHANGE"}, "type"),
        ({"type": "CONVERTED"}, "type"),
        ({"type": "FAX"}, "type"),
        ({}, "type"),
        ({"type": "CALL", "metadata": [1, 2]}, "metadata"),
        ({"type": "CALL", "metadata": {"k": "nul\u0000"}}, "metadata"),
        ({"type": "CALL", "occurred_at": "yesterday"}, "occurred_at"),
        ({"type": "NOTE", "body": "nul\x00"}, "body"),
        ({"type": "CALL", "subject": "x" * 301}, "subject"),
    ],
)
@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_bad_activity_input_is_400(api, make_record, org, record_type, body, field):
    record = make_record(record_type)
    response = api(Role.MANAGER).post(f"{url_of(record_type, record)}activities/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_there_is_no_route_to_change_or_delete_activities(api, make_record, record_type):
    record = make_record(record_type)
    client = api(Role.ADMIN)
    url = f"{url_of(record_type, record)}activities/"
    assert client.patch(url, {}, format="json").status_code == 405
    assert client.delete(url).status_code == 405


def test_the_account_timeline_rolls_up_its_contacts_and_opportunities(
    api, make_account, make_contact, make_opportunity
):
    account, elsewhere = make_account(), make_account()
    contact = make_contact(account=account)
    opportunity = make_opportunity(account=account)
    make_contact(account=elsewhere)
    client = api(Role.MANAGER)
    client.post(f"/api/contacts/{contact.pk}/activities/", {"type": "CALL", "subject": "c"}, format="json")
    client.post(f"/api/opportunities/{opportunity.pk}/stage/", {"stage": "PROPOSAL"}, format="json")
    client.post(f"/api/accounts/{account.pk}/notes/", {"body": "a"}, format="json")

    rows = client.get(f"/api/accounts/{account.pk}/activities/").json()["results"]
    assert [(row["type"], row["contact"], row["opportunity"]) for row in rows] == [
        ("NOTE", None, None),
        ("STAGE_CHANGE", None, opportunity.pk),
        ("CALL", contact.pk, None),
        ("CREATED", None, opportunity.pk),
        ("CREATED", contact.pk, None),
        ("CREATED", None, None),
    ]
    first = client.get(f"/api/accounts/{account.pk}/activities/?page_size=4").json()
    second = client.get(first["next"]).json()
    assert [row["id"] for row in first["results"] + second["results"]] == [row["id"] for row in rows]
    assert second["next"] is None
    created = client.get(f"/api/accounts/{account.pk}/activities/?type=created,call").json()["results"]
    assert [row["type"] for row in created] == ["CALL", "CREATED", "CREATED", "CREATED"]
    assert client.get(f"/api/accounts/{account.pk}/activities/?type=BOGUS").status_code == 400
    # a contact's timeline is its own
    own = client.get(f"/api/contacts/{contact.pk}/activities/").json()["results"]
    assert [row["type"] for row in own] == ["CALL", "CREATED"]
