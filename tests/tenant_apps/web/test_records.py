"""Accounts, contacts and opportunities (list and detail), and the task list."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Note
from tenant_apps.dedupe.services import account_merge
from tenant_apps.tasks.models import Task, TaskStatus
from tenant_apps.tasks.services import task_create


def listed(response, kind: str) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    return sorted(re.findall(rf'<a class="name" href="/{kind}/\d+/">([^<]+)</a>', response.content.decode()))


def test_account_list_filters_and_search(web, make_account):
    client = web(Role.ADMIN)
    make_account(name="Initech", status="customer", owner_id=client.user.pk)
    make_account(name="Umbrella Corp")
    assert listed(client.get("/accounts/"), "accounts") == ["Initech", "Umbrella Corp"]
    assert listed(client.get("/accounts/?status=customer"), "accounts") == ["Initech"]
    assert listed(client.get("/accounts/?owner=me"), "accounts") == ["Initech"]
    assert listed(client.get("/accounts/?q=umbrela"), "accounts") == ["Umbrella Corp"]
    assert client.get("/accounts/?status=bogus&cursor=zz").status_code == 200


def test_account_page_rolls_up_contacts_opportunities_and_timeline(
    web, make_account, make_contact, make_opportunity
):
    account = make_account(name="Rollup Inc", domain="rollup.example")
    make_contact(account=account, name="Rita Contact")
    make_opportunity(account=account, name="Big deal", amount="9000.00")
    body = web(Role.VIEWER).get(f"/accounts/{account.pk}/").content.decode()
    for text in (
        "Rollup Inc",
        "rollup.example",
        "Rita Contact",
        "Big deal",
        "$9,000",
        "Account created: Rollup Inc",
    ):
        assert text in body, text


def test_contact_and_opportunity_pages(web, make_account, make_contact, make_opportunity):
    account = make_account(name="Parent")
    contact = make_contact(account=account, name="Carl Contact", email="carl@parent.example")
    deal = make_opportunity(account=account, name="Carl's deal", stage="PROPOSAL")
    client = web(Role.ADMIN)
    assert listed(client.get("/contacts/"), "contacts") == ["Carl Contact"]
    assert "carl@parent.example" in client.get(f"/contacts/{contact.pk}/").content.decode()
    assert listed(client.get("/opportunities/?stage=PROPOSAL"), "opportunities") == ["Carl&#x27;s deal"]
    assert listed(client.get("/opportunities/?stage=DISCOVERY"), "opportunities") == []
    page = client.get(f"/opportunities/{deal.pk}/").content.decode()
    assert "Parent" in page and "50%" in page


@pytest.mark.parametrize("kind", ["accounts", "contacts", "opportunities"])
def test_notes_on_records(web, make_account, make_contact, make_opportunity, org, kind):
    client = web(Role.REP)
    # a rep adds notes to any account or contact, but only to their own deals (as through the API)
    owned = {"owner_id": client.user.pk} if kind == "opportunities" else {}
    record = {"accounts": make_account, "contacts": make_contact, "opportunities": make_opportunity}[kind](
        **owned
    )
    response = client.post(f"/{kind}/{record.pk}/notes/", {"body": "Noted here"})
    assert (response.status_code, response["Location"]) == (302, f"/{kind}/{record.pk}/")
    assert "Noted here" in client.get(f"/{kind}/{record.pk}/").content.decode()
    viewer = web(Role.VIEWER).post(
        f"/{kind}/{record.pk}/notes/", {"body": "no"}, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert viewer.status_code == 403
    empty = client.post(f"/{kind}/{record.pk}/notes/", {"body": " "}, HTTP_X_REQUESTED_WITH="fetch")
    assert empty.status_code == 400
    with schema_context(org.schema_name):
        assert Note.objects.filter(body="Noted here").count() == 1


def test_unknown_and_merged_records(web, make_account, admin, org):
    client = web(Role.ADMIN)
    assert client.get("/accounts/999999999/").status_code == 404
    assert client.get("/accounts/9999999999999999999999/").status_code == 404
    survivor, merged = make_account(name="Keep"), make_account(name="Fold")
    with schema_context(org.schema_name):
        account_merge(survivor_id=survivor.pk, merged_ids=[merged.pk], field_winners={}, actor=admin)
    response = client.get(f"/accounts/{merged.pk}/")
    assert (response.status_code, response["Location"]) == (302, f"/accounts/{survivor.pk}/")


def test_records_of_another_organization_are_not_found(web, make_account, other_org):
    theirs = make_account(name="Globex only", organization=other_org)
    body = web(Role.ADMIN).get("/accounts/").content.decode()
    assert "Globex only" not in body
    response = web(Role.ADMIN).get(f"/accounts/{theirs.pk}/")
    assert response.status_code == 404 or "Globex only" not in response.content.decode()


def test_task_list_mine_overdue_and_completion(web, make_lead, org, member):
    client = web(Role.REP)
    other = member(role=Role.REP)
    lead = make_lead(name="Task anchor", owner_id=client.user.pk)
    past = timezone.now() - timedelta(days=2)
    with schema_context(org.schema_name):
        late = task_create(actor=client.user, title="Late one", due_at=past, lead_id=lead.pk)
        task_create(
            actor=client.user, title="Later one", due_at=timezone.now() + timedelta(days=2), lead_id=lead.pk
        )
        # (by the system: `other` may not see this lead, so could not put a task on it themselves)
        task_create(actor=None, title="Not mine", assignee_id=other.pk, lead_id=lead.pk)
    body = client.get("/tasks/").content.decode()
    assert "Late one" in body and "Later one" in body and "Not mine" not in body
    assert body.index("Late one") < body.index("Later one")
    overdue = client.get("/tasks/?status=overdue").content.decode()
    assert "Late one" in overdue and "Later one" not in overdue
    assert "Not mine" in client.get("/tasks/?mine=0").content.decode()
    response = client.post(f"/tasks/{late.pk}/complete/", {"next": "/tasks/"})
    assert (response.status_code, response["Location"]) == (302, "/tasks/")
    with schema_context(org.schema_name):
        assert Task.objects.get(pk=late.pk).status == TaskStatus.DONE
    again = client.post(f"/tasks/{late.pk}/complete/", HTTP_X_REQUESTED_WITH="fetch")
    assert again.status_code == 409
    assert client.post(f"/tasks/{late.pk}/reopen/").status_code == 302
    assert client.post("/tasks/999999999/complete/", HTTP_X_REQUESTED_WITH="fetch").status_code == 404


def test_adding_a_task_on_a_lead(web, make_lead, org):
    client = web(Role.ADMIN)
    lead = make_lead(name="Needs follow-up")
    response = client.post(f"/leads/{lead.pk}/tasks/", {"title": "Call back", "due_at": "2030-01-02T09:30"})
    assert response.status_code == 302
    with schema_context(org.schema_name):
        task = Task.objects.get(lead=lead)
    assert (task.title, task.assignee_id, task.due_at.year) == ("Call back", client.user.pk, 2030)
