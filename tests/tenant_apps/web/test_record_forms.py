"""Creating and editing accounts, contacts, opportunities and tasks from the pages, converting a lead, the
composer and in-place edits (issue 20): the services' rules shown under the field they name, the visibility
policy in every form, viewers and other reps kept out."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import Activity, ActivityType, Note
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.tasks.models import Task
from tenant_apps.tasks.services import task_create

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def field_error(response, field: str) -> str:
    """The error shown under a form field (the field's -error span)."""
    found = re.search(rf'id="id_{field}-error"[^>]*>([^<]+)<', response.content.decode())
    assert found, (field, response.content.decode()[:2000])
    return found.group(1)


# ---- create ----------------------------------------------------------------------------------------------


def test_an_account_is_created_from_its_page(org, web):
    client = web(Role.REP)
    assert b'href="/accounts/new/"' in client.get("/accounts/").content
    assert client.get("/accounts/new/").status_code == 200
    response = client.post(
        "/accounts/new/",
        {"name": "Initech", "domain": "https://www.Initech.example/about", "size": "11-50", "tags": "a, b"},
    )
    with schema_context(org.schema_name):
        account = Account.objects.get(name="Initech")
    assert (response.status_code, response["Location"]) == (302, f"/accounts/{account.pk}/")
    assert (account.domain, account.size, account.tags) == ("initech.example", "11-50", ["a", "b"])
    assert "Account Initech created." in client.get(response["Location"]).content.decode()


def test_a_services_refusal_is_shown_under_its_field(org, web):
    client = web(Role.ADMIN)
    response = client.post("/accounts/new/", {"name": "Bad domain", "domain": "not a domain"})
    assert response.status_code == 400
    assert "Enter a domain such as acme.com." in field_error(response, "domain")
    assert 'value="Bad domain"' in response.content.decode()  # what was typed is kept
    missing = client.post("/accounts/new/", {"name": ""})
    assert missing.status_code == 400 and field_error(missing, "name")
    with schema_context(org.schema_name):
        assert not Account.objects.exists()


def test_a_contact_and_an_opportunity_are_created_at_an_account(org, web, make_account):
    client = web(Role.REP)
    account = make_account(name="Parent Co")
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert f"/contacts/new/?account={account.pk}" in page
    assert f"/opportunities/new/?account={account.pk}" in page
    form = client.get(f"/contacts/new/?account={account.pk}").content.decode()
    assert f'<option value="{account.pk}" selected>Parent Co</option>' in form
    made = client.post(
        "/contacts/new/", {"name": "Carla", "email": "Carla@Parent.example", "account": str(account.pk)}
    )
    assert made.status_code == 302
    deal = client.post(
        "/opportunities/new/",
        {"name": "Big one", "account": str(account.pk), "stage": "PROPOSAL", "amount": "1200.50"},
    )
    assert deal.status_code == 302
    with schema_context(org.schema_name):
        contact = Contact.objects.get(name="Carla")
        opportunity = Opportunity.objects.get(name="Big one")
    assert (contact.account_id, contact.email) == (account.pk, "carla@parent.example")
    assert (opportunity.stage, str(opportunity.amount), opportunity.currency) == (
        "PROPOSAL",
        "1200.50",
        "USD",
    )
    assert opportunity.probability > 0  # the stage's default


def test_an_opportunity_needs_an_account_and_an_open_stage(org, web):
    client = web(Role.ADMIN)
    response = client.post("/opportunities/new/", {"name": "Orphan", "stage": "QUALIFICATION"})
    assert response.status_code == 400 and field_error(response, "account")
    closed = client.post("/opportunities/new/", {"name": "Closed", "stage": "CLOSED_WON"})
    assert closed.status_code == 400 and field_error(closed, "stage")


def test_viewers_get_no_create_or_edit_forms(web, make_account):
    viewer = web(Role.VIEWER)
    account = make_account(name="Looked at")
    assert b"/accounts/new/" not in viewer.get("/accounts/").content
    assert viewer.get("/accounts/new/").status_code == 403
    assert viewer.post("/contacts/new/", {"name": "X"}).status_code == 403
    assert viewer.get(f"/accounts/{account.pk}/edit/").status_code == 403
    refused = viewer.post(f"/accounts/{account.pk}/edit/", {"name": "Mine"}, **FETCH)
    assert refused.status_code == 403
    assert b"data-inline-url" not in viewer.get(f"/accounts/{account.pk}/").content


# ---- edit and in-place edits -----------------------------------------------------------------------------


def test_the_edit_page_saves_every_field(org, web, make_account):
    client = web(Role.MANAGER)
    account = make_account(name="Old name", domain="old.example", industry="Retail")
    form = client.get(f"/accounts/{account.pk}/edit/").content.decode()
    assert 'value="Old name"' in form and 'value="old.example"' in form
    response = client.post(
        f"/accounts/{account.pk}/edit/", {"name": "New name", "domain": "new.example", "industry": ""}
    )
    assert (response.status_code, response["Location"]) == (302, f"/accounts/{account.pk}/")
    with schema_context(org.schema_name):
        account.refresh_from_db()
    assert (account.name, account.domain, account.industry) == ("New name", "new.example", "")


def test_an_in_place_edit_changes_that_field_alone(org, web, make_account):
    client = web(Role.REP)
    account = make_account(name="Keep me", domain="keep.example", industry="Retail")
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert f'data-inline-url="/accounts/{account.pk}/edit/"' in page
    assert 'data-inline-field="industry"' in page
    saved = client.post(f"/accounts/{account.pk}/edit/", {"industry": "Banking"}, **FETCH)
    assert saved.status_code == 200 and saved.json()["fields"]["industry"] == "Banking"
    with schema_context(org.schema_name):
        account.refresh_from_db()
    assert (account.name, account.domain, account.industry) == ("Keep me", "keep.example", "Banking")
    bad = client.post(f"/accounts/{account.pk}/edit/", {"domain": "nope"}, **FETCH)
    assert bad.status_code == 400
    assert bad.json()["errors"]["domain"] == ["Enter a domain such as acme.com."]
    empty = client.post(f"/accounts/{account.pk}/edit/", {"name": ""}, **FETCH)
    assert empty.status_code == 400 and "name" in empty.json()["errors"]


def test_a_rep_edits_only_their_own_deals_and_never_sees_hidden_ones(org, web, member, make_opportunity):
    rep1, rep2 = web(Role.REP), member(role=Role.REP)
    hidden = make_opportunity(name="Rep2's deal", owner_id=rep2.pk)
    unassigned = make_opportunity(name="Nobody's deal")
    own = make_opportunity(name="Rep1's deal", owner_id=rep1.user.pk)
    assert rep1.get(f"/opportunities/{hidden.pk}/edit/").status_code == 404
    assert b"Rep2" not in rep1.get(f"/opportunities/{hidden.pk}/edit/").content
    assert rep1.post(f"/opportunities/{hidden.pk}/edit/", {"name": "x"}, **FETCH).status_code == 404
    assert rep1.post(f"/opportunities/{hidden.pk}/log/", {"type": "CALL"}, **FETCH).status_code == 404
    assert rep1.get(f"/tasks/new/?opportunity={hidden.pk}").status_code == 404
    assert rep1.get(f"/opportunities/{unassigned.pk}/edit/").status_code == 403
    assert rep1.post(f"/opportunities/{unassigned.pk}/log/", {"type": "CALL"}, **FETCH).status_code == 403
    assert rep1.post(f"/opportunities/{own.pk}/edit/", {"name": "Renamed"}, **FETCH).status_code == 200
    with schema_context(org.schema_name):
        assert Opportunity.objects.get(pk=hidden.pk).name == "Rep2's deal"
        assert Opportunity.objects.get(pk=own.pk).name == "Renamed"


def test_a_reps_forms_offer_no_hidden_record(org, web, member, make_lead):
    rep1, rep2 = web(Role.REP), member(role=Role.REP)
    hidden = make_lead(name="Rep2's lead", owner_id=rep2.pk, stage=Stage.QUALIFIED, company="Secret Co")
    assert rep1.get(f"/leads/{hidden.pk}/convert/").status_code == 404
    assert rep1.post(f"/leads/{hidden.pk}/convert/", {"account_name": "Mine"}).status_code == 404
    assert rep1.get(f"/tasks/new/?lead={hidden.pk}").status_code == 404
    assert rep1.post(f"/leads/{hidden.pk}/log/", {"type": "CALL"}, **FETCH).status_code == 404
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=hidden.pk).converted_at is None
        assert not Activity.objects.filter(lead=hidden, type=ActivityType.CALL).exists()


# ---- tasks -----------------------------------------------------------------------------------------------


def test_a_task_is_created_and_edited_from_a_lead(org, web, make_lead):
    client = web(Role.REP)
    lead = make_lead(name="Task lead", owner_id=client.user.pk)
    assert f"/tasks/new/?lead={lead.pk}" in client.get(f"/leads/{lead.pk}/").content.decode()
    made = client.post(
        f"/tasks/new/?lead={lead.pk}",
        {"title": "Send pricing", "description": "v2", "due_at": "2031-01-02T09:30", "assignee": ""},
    )
    assert (made.status_code, made["Location"]) == (302, f"/leads/{lead.pk}/")
    with schema_context(org.schema_name):
        task = Task.objects.get(lead=lead)
    assert (task.title, task.description, task.assignee_id) == ("Send pricing", "v2", None)
    assert f"/tasks/{task.pk}/edit/" in client.get(f"/leads/{lead.pk}/").content.decode()
    edited = client.post(f"/tasks/{task.pk}/edit/", {"title": "", "description": ""})
    assert edited.status_code == 400 and field_error(edited, "title")
    edited = client.post(f"/tasks/{task.pk}/edit/", {"title": "Send pricing v3", "assignee": client.user.pk})
    assert edited.status_code == 302
    with schema_context(org.schema_name):
        task.refresh_from_db()
    assert (task.title, task.assignee_id, task.due_at) == ("Send pricing v3", client.user.pk, None)


def test_tasks_on_hidden_records_cannot_be_edited(org, web, member, make_lead, admin):
    rep1, rep2 = web(Role.REP), member(role=Role.REP)
    hidden = make_lead(owner_id=rep2.pk)
    with schema_context(org.schema_name):
        task = task_create(actor=admin, title="Secret", lead_id=hidden.pk)
    assert rep1.get(f"/tasks/{task.pk}/edit/").status_code == 404
    assert rep1.post(f"/tasks/{task.pk}/edit/", {"title": "Mine"}).status_code == 404
    assert rep1.get("/tasks/new/").status_code == 404  # no record named


# ---- converting a lead -----------------------------------------------------------------------------------


def test_a_qualified_lead_is_converted_into_a_new_account_and_an_opportunity(org, web, make_lead):
    client = web(Role.REP)
    lead = make_lead(
        name="Ann Lead", company="Ann Co", value="5000", stage=Stage.QUALIFIED, owner_id=client.user.pk
    )
    assert f'href="/leads/{lead.pk}/convert/"' in client.get(f"/leads/{lead.pk}/").content.decode()
    form = client.get(f"/leads/{lead.pk}/convert/").content.decode()
    assert 'value="Ann Co"' in form
    response = client.post(
        f"/leads/{lead.pk}/convert/",
        {
            "account": "",
            "account_name": "Ann Holdings",
            "create_opportunity": "on",
            "opportunity_name": "Ann deal",
        },
    )
    with schema_context(org.schema_name):
        lead.refresh_from_db()
        account = Account.objects.get(name="Ann Holdings")
        opportunity = Opportunity.objects.get(name="Ann deal")
    assert (response.status_code, response["Location"]) == (302, f"/accounts/{account.pk}/")
    assert lead.converted_account_id == account.pk and lead.converted_contact_id is not None
    assert (opportunity.account_id, str(opportunity.amount)) == (account.pk, "5000.00")
    again = client.get(f"/leads/{lead.pk}/convert/")
    assert again.status_code == 302  # converted once: back to the lead


def test_a_lead_is_converted_onto_an_existing_account(org, web, make_lead, make_account):
    client = web(Role.ADMIN)
    account = make_account(name="Existing Inc")
    lead = make_lead(name="Bo", stage=Stage.PROPOSAL)
    response = client.post(f"/leads/{lead.pk}/convert/", {"account": str(account.pk)})
    assert (response.status_code, response["Location"]) == (302, f"/accounts/{account.pk}/")
    with schema_context(org.schema_name):
        assert Contact.objects.get(name="Bo").account_id == account.pk
        assert not Opportunity.objects.exists()


def test_conversion_refusals_name_the_field(org, web, make_lead, make_account):
    client = web(Role.ADMIN)
    early = make_lead(name="Too early", company="Early Co", stage=Stage.NEW)
    page = client.get(f"/leads/{early.pk}/convert/")
    assert "Only a lead that is Qualified or later" in page.content.decode()
    refused = client.post(f"/leads/{early.pk}/convert/", {"account_name": "X"})
    assert refused.status_code == 400 and "cannot be converted" in refused.content.decode()
    nameless = make_lead(name="No company", stage=Stage.QUALIFIED)
    response = client.post(f"/leads/{nameless.pk}/convert/", {})
    assert response.status_code == 400 and "Name the new account" in field_error(response, "account_name")
    account = make_account(name="Both")
    both = client.post(f"/leads/{nameless.pk}/convert/", {"account": str(account.pk), "account_name": "Y"})
    assert both.status_code == 400 and field_error(both, "account_name")
    with schema_context(org.schema_name):
        assert not Lead.objects.filter(converted_at__isnull=False).exists()
    assert web(Role.VIEWER).get(f"/leads/{nameless.pk}/convert/").status_code == 403


# ---- the composer and the timeline -----------------------------------------------------------------------


def test_the_composer_logs_calls_meetings_notes_and_emails_on_every_record_page(
    org, web, make_lead, make_account, make_contact, make_opportunity
):
    client = web(Role.MANAGER)
    lead, account = make_lead(name="Composer lead"), make_account(name="Composer account")
    contact, deal = make_contact(name="Composer contact"), make_opportunity(name="Composer deal")
    pages = {
        f"/leads/{lead.pk}/": f"/leads/{lead.pk}/log/",
        f"/accounts/{account.pk}/": f"/accounts/{account.pk}/log/",
        f"/contacts/{contact.pk}/": f"/contacts/{contact.pk}/log/",
        f"/opportunities/{deal.pk}/": f"/opportunities/{deal.pk}/log/",
    }
    for page, log in pages.items():
        body = client.get(page).content.decode()
        assert f'action="{log}"' in body and 'value="MEETING"' in body, page
        for kind, subject in (("CALL", "Intro call"), ("MEETING", "Demo"), ("EMAIL", "Sent from Gmail")):
            response = client.post(log, {"type": kind, "subject": subject, "body": "Went well"})
            assert response.status_code == 302, (page, kind)
        assert client.post(log, {"type": "NOTE", "body": "Remember the budget"}).status_code == 302
        timeline = client.get(page).content.decode()
        for text in ("Intro call", "Demo", "Sent from Gmail", "Remember the budget", "Meeting logged."):
            assert text in timeline, (page, text)
    with schema_context(org.schema_name):
        assert Activity.objects.filter(account=account, type=ActivityType.MEETING).count() == 1
        assert Note.objects.filter(contact=contact, body="Remember the budget").exists()
    empty_note = client.post(f"/accounts/{account.pk}/log/", {"type": "NOTE", "body": ""}, **FETCH)
    assert empty_note.status_code == 400
    unknown = client.post(f"/accounts/{account.pk}/log/", {"type": "STAGE_CHANGE"}, **FETCH)
    assert unknown.status_code == 400 and "Type" in unknown.json()["message"]
    assert web(Role.VIEWER).post(f"/accounts/{account.pk}/log/", {"type": "CALL"}, **FETCH).status_code == 403


def test_the_timeline_is_ordered_by_when_things_happened(org, web, make_account):
    client = web(Role.ADMIN)
    account = make_account(name="Ordered")
    earlier = (timezone.localtime() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    client.post(f"/accounts/{account.pk}/log/", {"type": "CALL", "subject": "Now call"})
    client.post(
        f"/accounts/{account.pk}/log/", {"type": "MEETING", "subject": "Old meeting", "occurred_at": earlier}
    )
    body = client.get(f"/accounts/{account.pk}/").content.decode()
    # logged last, it happened first: newest first, it comes after the call and the account's creation
    assert body.index("Now call") < body.index("Account created: Ordered") < body.index("Old meeting")
    with schema_context(org.schema_name):
        meeting = Activity.objects.get(account=account, type=ActivityType.MEETING)
    assert meeting.occurred_at < timezone.now() - timedelta(days=2)


def test_stage_changes_read_as_words_and_time_in_stage_stops_with_the_pipeline(org, web, make_lead, admin):
    from tenant_apps.leads.conversion import lead_convert

    client = web(Role.ADMIN)
    lead = make_lead(name="Words", company="Words Co", stage=Stage.QUALIFIED)
    body = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Moved from Contacted to Qualified" in body and "Moved to QUALIFIED" not in body
    assert "(now)" in body
    with schema_context(org.schema_name):
        lead_convert(lead_id=lead.pk, actor=admin)
    converted = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "(until converted)" in converted and "(now)" not in converted
    won = make_lead(name="Won", stage=Stage.WON)
    final = client.get(f"/leads/{won.pk}/").content.decode()
    assert "Moved from Negotiation to Won" in final and ">final<" in final and "(now)" not in final
