"""The pages read through the visibility rules (issue 15): a rep opens neither another rep's deal, its
timeline nor its notes form, and sees nothing of it on an account's page; a merged lead only leads to a
survivor the member may see. (tests/tenant_apps/access/walls walks every page; these name the holes that
were open.)"""

from __future__ import annotations

from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Note
from tenant_apps.dedupe.services import lead_merge
from tenant_apps.opportunities.services import opportunity_note_add

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def test_a_rep_cannot_open_another_reps_deal_its_timeline_or_its_notes_form(
    org, web, member, make_opportunity
):
    rep1, rep2 = web(Role.REP), member(role=Role.REP)
    deal = make_opportunity(name="Rep2's secret deal", owner_id=rep2.pk)
    assert rep1.get(f"/opportunities/{deal.pk}/").status_code == 404
    assert rep1.get(f"/opportunities/{deal.pk}/timeline/").status_code == 404
    note = rep1.post(f"/opportunities/{deal.pk}/notes/", {"body": "Mine now"}, **FETCH)
    assert note.status_code == 404
    with schema_context(org.schema_name):
        assert not Note.objects.filter(opportunity=deal).exists()


def test_a_rep_reads_an_unassigned_deal_but_adds_notes_only_to_their_own(org, web, make_opportunity):
    rep = web(Role.REP)
    unassigned, own = (
        make_opportunity(name="Open deal"),
        make_opportunity(name="My deal", owner_id=rep.user.pk),
    )
    assert rep.get(f"/opportunities/{unassigned.pk}/").status_code == 200
    refused = rep.post(f"/opportunities/{unassigned.pk}/notes/", {"body": "x"}, **FETCH)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_your_opportunity")
    assert rep.post(f"/opportunities/{own.pk}/notes/", {"body": "x"}, **FETCH).status_code == 200


def test_an_accounts_page_carries_nothing_of_a_hidden_deal(
    org, web, member, admin, make_account, make_opportunity
):
    rep1, rep2 = web(Role.REP), member(role=Role.REP)
    account = make_account(name="Shared account")
    deal = make_opportunity(account=account, name="Rep2's qwertydeal", owner_id=rep2.pk)
    with schema_context(org.schema_name):
        opportunity_note_add(opportunity_id=deal.pk, actor=admin, body="qwerty pricing talk")
    for path in (f"/accounts/{account.pk}/", f"/accounts/{account.pk}/timeline/"):
        page = rep1.get(path)
        assert page.status_code == 200
        assert b"qwerty" not in page.content, path
    assert b"qwerty pricing talk" in web(Role.MANAGER).get(f"/accounts/{account.pk}/timeline/").content


def test_a_merged_lead_does_not_lead_a_rep_to_a_survivor_they_cannot_see(org, web, member, admin, make_lead):
    rep1, rep2 = web(Role.REP), member(role=Role.REP)
    survivor, merged = make_lead(owner_id=rep2.pk), make_lead(owner_id=rep2.pk)
    with schema_context(org.schema_name):
        lead_merge(survivor_id=survivor.pk, merged_ids=[merged.pk], field_winners={}, actor=admin)
    assert rep1.get(f"/leads/{merged.pk}/").status_code == 404
    assert web(Role.MANAGER).get(f"/leads/{merged.pk}/")["Location"] == f"/leads/{survivor.pk}/"


def test_a_rep_cannot_complete_a_task_on_another_reps_lead(org, web, member, admin, make_lead):
    from tenant_apps.tasks.services import task_create

    rep1, rep2 = web(Role.REP), member(role=Role.REP)
    lead = make_lead(owner_id=rep2.pk)
    with schema_context(org.schema_name):
        task = task_create(actor=admin, title="Call", lead_id=lead.pk, due_at=None)
    assert rep1.post(f"/tasks/{task.pk}/complete/", **FETCH).status_code == 404
    assert b"Call" not in rep1.get("/tasks/?mine=0").content


def test_a_viewers_upload_is_refused_with_403_to_a_script(web):
    refused = web(Role.VIEWER).post("/imports/upload/", {}, **FETCH)
    assert (refused.status_code, refused.json()["code"]) == (403, "manager_only")
