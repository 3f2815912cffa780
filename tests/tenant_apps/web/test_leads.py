"""The lead list (filters, search, segments, quick actions) and the lead page."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType, Note
from tenant_apps.activities.services import activity_log, email_record
from tenant_apps.dedupe.services import lead_merge
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.segments.services import segment_create
from tenant_apps.tasks.models import Task, TaskStatus


def names(response) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    return sorted(re.findall(r'<a class="name" href="/leads/\d+/">([^<]+)</a>', response.content.decode()))


def test_filters_narrow_the_list(web, make_lead, member):
    client = web(Role.ADMIN)
    rep = member(role=Role.REP)
    make_lead(name="Ann New", source="ads", tags=["vip"], owner_id=rep.pk)
    make_lead(name="Bob Contacted", stage=Stage.CONTACTED, source="web")
    make_lead(name="Cid Won", stage=Stage.WON, tags=["vip"])
    assert names(client.get("/leads/")) == ["Ann New", "Bob Contacted", "Cid Won"]
    assert names(client.get("/leads/?stage=CONTACTED")) == ["Bob Contacted"]
    assert names(client.get("/leads/?source=ads")) == ["Ann New"]
    assert names(client.get("/leads/?tag=VIP")) == ["Ann New", "Cid Won"]
    assert names(client.get(f"/leads/?owner={rep.pk}")) == ["Ann New"]
    assert names(client.get("/leads/?owner=none")) == ["Bob Contacted", "Cid Won"]


def test_search_finds_by_name_company_or_misspelling(web, make_lead):
    client = web(Role.ADMIN)
    make_lead(name="Jane Doe", company="Initech")
    make_lead(name="John Smith", company="Umbrella")
    assert names(client.get("/leads/?q=jan")) == ["Jane Doe"]
    assert names(client.get("/leads/?q=umbrela")) == ["John Smith"]
    assert names(client.get("/leads/?q=jane&stage=WON")) == []


def test_search_respects_what_a_rep_may_see(web, make_lead, member):
    client = web(Role.REP)
    make_lead(name="Hidden Person", owner_id=member(role=Role.REP).pk)
    make_lead(name="Visible Person", owner_id=client.user.pk)
    assert names(client.get("/leads/?q=person")) == ["Visible Person"]


def test_saved_segments_and_presets(web, make_lead, org):
    client = web(Role.REP)
    make_lead(name="Mine Open", owner_id=client.user.pk)
    make_lead(name="Mine Won", owner_id=client.user.pk, stage=Stage.WON)
    make_lead(name="Unowned Contacted", stage=Stage.CONTACTED)
    with schema_context(org.schema_name):
        segment = segment_create(
            actor=client.user,
            name="Contacted ones",
            record_type="lead",
            definition={"conditions": [{"field": "stage", "op": "eq", "value": "CONTACTED"}]},
        )
    page = client.get("/leads/")
    assert "Contacted ones" in page.content.decode() and "My open leads" in page.content.decode()
    assert names(client.get(f"/leads/?segment={segment.pk}")) == ["Unowned Contacted"]
    assert names(client.get("/leads/?preset=my_open_leads")) == ["Mine Open"]


@pytest.mark.parametrize(
    "query",
    [
        "stage=DONE",
        "owner=someone",
        "cursor=bm90LWEtY3Vyc29y",
        "cursor=%00",
        "segment=999999999",
        "segment=99999999999999999999999",
        "preset=nope",
        "q=x",
        "q=" + "a" * 300,
        "page=999",
    ],
)
def test_bad_list_parameters_never_fail(web, make_lead, query):
    make_lead(name="Still here")
    response = web(Role.ADMIN).get(f"/leads/?{query}")
    assert response.status_code == 200


def test_the_list_pages_newest_first(web, make_lead, monkeypatch):
    monkeypatch.setattr("tenant_apps.web.selectors.PAGE_SIZE", 2)
    for index in range(5):
        make_lead(name=f"Lead {index}")
    client = web(Role.ADMIN)
    seen, url = [], "/leads/"
    while url:
        body = client.get(url).content.decode()
        seen += re.findall(r'<a class="name" href="/leads/\d+/">([^<]+)</a>', body)
        more = re.search(r'<a class="button" href="([^"]+)">More leads</a>', body)
        url = "/leads/" + more.group(1).replace("&amp;", "&") if more else ""
    assert seen == [f"Lead {index}" for index in reversed(range(5))]


# ---- quick actions -------------------------------------------------------------------------------------


def test_quick_actions_change_the_lead_and_come_back(web, make_lead, member, org):
    client = web(Role.MANAGER)
    rep = member(role=Role.REP)
    lead = make_lead(name="Quick")
    back = {"next": "/leads/?stage=NEW"}

    response = client.post(f"/leads/{lead.pk}/calls/", {"body": "Talked budget", **back})
    assert (response.status_code, response["Location"]) == (302, "/leads/?stage=NEW")
    client.post(f"/leads/{lead.pk}/notes/", {"body": "Wants a demo", **back})
    client.post(f"/leads/{lead.pk}/move/", {"stage": "CONTACTED", **back})
    client.post(f"/leads/{lead.pk}/assign/", {"owner": rep.pk, **back})
    with schema_context(org.schema_name):
        lead.refresh_from_db()
        assert (lead.stage, lead.owner_id) == (Stage.CONTACTED, rep.pk)
        assert Activity.objects.filter(lead=lead, type=ActivityType.CALL, body="Talked budget").exists()
        assert Note.objects.filter(lead=lead, body="Wants a demo").exists()
    client.post(f"/leads/{lead.pk}/assign/", {"owner": "", **back})
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=lead.pk).owner_id is None


def test_quick_actions_from_a_script_answer_json_with_the_row(web, make_lead):
    client = web(Role.ADMIN)
    lead = make_lead(name="Scripted")
    response = client.post(
        f"/leads/{lead.pk}/move/",
        {"stage": "CONTACTED", "fragment": "row", "next": "/leads/"},
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Scripted moved to Contacted."
    assert body["html"].startswith(f'<li class="row" id="row-{lead.pk}"') and "→ Qualified" in body["html"]
    refused = client.post(f"/leads/{lead.pk}/move/", {"stage": "WON"}, HTTP_X_REQUESTED_WITH="fetch")
    assert refused.status_code == 409 and refused.json()["code"] == "transition_not_allowed"


@pytest.mark.parametrize(
    ("path", "data", "status_code"),
    [
        ("notes", {"body": ""}, 400),
        ("notes", {"body": "x\x00y"}, 400),
        ("calls", {"body": "x" * 100_001}, 400),
        ("move", {"stage": "DONE"}, 400),
        ("assign", {"owner": "abc"}, 400),
        ("assign", {"owner": "99999999"}, 400),
        ("edit", {"name": ""}, 400),
        ("edit", {"name": "Ok", "value": "-5"}, 400),
        ("edit", {"name": "Ok", "email": "not-an-email"}, 400),
        ("tasks", {"title": ""}, 400),
        ("tasks", {"title": "t", "due_at": "someday"}, 400),
    ],
)
def test_bad_input_is_refused_with_the_reason(web, make_lead, path, data, status_code):
    lead = make_lead(name="Careful")
    response = web(Role.ADMIN).post(f"/leads/{lead.pk}/{path}/", data, HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == status_code
    assert response.json()["message"]


def test_viewers_and_other_reps_cannot_change_a_lead(web, make_lead, member, org):
    owner = member(role=Role.REP)
    lead = make_lead(name="Guarded", owner_id=owner.pk)
    viewer = web(Role.VIEWER).post(f"/leads/{lead.pk}/notes/", {"body": "hi"}, HTTP_X_REQUESTED_WITH="fetch")
    assert viewer.status_code == 403
    rep = web(Role.REP)
    # another rep's lead is invisible to reps: 404, its existence not revealed
    hidden = rep.post(f"/leads/{lead.pk}/notes/", {"body": "hi"}, HTTP_X_REQUESTED_WITH="fetch")
    assert hidden.status_code == 404
    unowned = make_lead(name="Unowned")
    forbidden = rep.post(f"/leads/{unowned.pk}/calls/", {"body": "hi"}, follow=True)
    assert "Reps change only the leads they own." in forbidden.content.decode()
    with schema_context(org.schema_name):
        assert not Note.objects.filter(lead=lead).exists()
        assert not Activity.objects.filter(lead=unowned, type=ActivityType.CALL).exists()


def test_creating_a_lead_from_the_list(web, org):
    client = web(Role.REP)
    response = client.post(
        "/leads/new/", {"name": "Fresh", "company": "New Co", "value": "10", "tags": "a, b"}
    )
    with schema_context(org.schema_name):
        lead = Lead.objects.get(name="Fresh")
    assert response["Location"] == f"/leads/{lead.pk}/"
    assert (lead.company, lead.tags, str(lead.value)) == ("New Co", ["a", "b"], "10.00")
    duplicate = client.post("/leads/new/", {"name": "Fresh", "company": "New Co"}, follow=True)
    assert "A lead with the same company and name exists" in duplicate.content.decode()
    allowed = client.post("/leads/new/", {"name": "Fresh", "company": "New Co", "allow_duplicate": "on"})
    assert allowed.status_code == 302
    with schema_context(org.schema_name):
        assert Lead.objects.filter(name="Fresh").count() == 2


# ---- the lead page -------------------------------------------------------------------------------------


def test_the_lead_page_shows_details_history_notes_emails_and_tasks(web, make_lead, admin, org):
    lead = make_lead(name="Full Page", company="Detail Co", stage=Stage.QUALIFIED, tags=["vip"])
    with schema_context(org.schema_name):
        activity_log(actor=admin, type="NOTE", lead_id=lead.pk, body="A note on the page")
        email_record(
            lead_id=lead.pk,
            actor=admin,
            fields={
                "from": "jane@detail.example",
                "subject": "Pricing",
                "body": "How much?",
                "message_id": "<m1@x>",
            },
        )
        email_record(
            lead_id=lead.pk,
            actor=admin,
            fields={
                "from": "me@acme.example",
                "subject": "Re: Pricing",
                "body": "Not much.",
                "in_reply_to": "<m1@x>",
            },
        )
        Task.objects.create(title="Send the quote", lead=lead, status=TaskStatus.OPEN)
    body = web(Role.ADMIN).get(f"/leads/{lead.pk}/").content.decode()
    for text in (
        "Full Page",
        "Detail Co",
        "vip",
        "A note on the page",
        "Pricing",
        "2 messages",
        "Send the quote",
    ):
        assert text in body, text
    assert body.index("Move to Proposal") < body.index("Move to Lost")
    history = re.search(r'<table class="history">.*?</table>', body, re.S).group(0)
    assert [s for s in re.findall(r"<tr[^>]*><td>(\w+)</td>", history)] == ["New", "Contacted", "Qualified"]


def test_the_timeline_is_newest_first_with_more(web, make_lead, admin, org, monkeypatch):
    monkeypatch.setattr("tenant_apps.web.views.base.TIMELINE_PAGE", 3)
    lead = make_lead(name="Busy")
    with schema_context(org.schema_name):
        for index in range(5):
            activity_log(actor=admin, type="CALL", lead_id=lead.pk, subject=f"call {index}")
    client = web(Role.ADMIN)
    body = client.get(f"/leads/{lead.pk}/").content.decode()
    subjects = re.findall(
        r"<strong>([^<]+)</strong>", re.search(r'<ol class="timeline">.*?</ol>', body, re.S).group(0)
    )
    assert subjects == ["call 4", "call 3", "call 2"]
    more = re.search(r'data-more="([^"]+)"', body).group(1)
    rest = client.get(more.replace("&amp;", "&")).content.decode()
    assert re.findall(r"<strong>([^<]+)</strong>", rest)[:3] == ["call 1", "call 0", "Lead created: Busy"]
    assert client.get(f"/leads/{lead.pk}/timeline/?cursor=garbage").status_code == 400


def test_a_merged_lead_leads_to_its_survivor(web, make_lead, admin, org):
    survivor = make_lead(name="Survivor")
    merged = make_lead(name="Merged away")
    with schema_context(org.schema_name):
        lead_merge(survivor_id=survivor.pk, merged_ids=[merged.pk], field_winners={}, actor=admin)
    response = web(Role.ADMIN).get(f"/leads/{merged.pk}/")
    assert (response.status_code, response["Location"]) == (302, f"/leads/{survivor.pk}/")


def test_editing_a_lead(web, make_lead, org):
    lead = make_lead(name="Before", value="5.00")
    client = web(Role.ADMIN)
    response = client.post(
        f"/leads/{lead.pk}/edit/",
        {"name": "After", "company": "Co", "value": "7.50", "tags": "x,Y", "source": "web"},
    )
    assert response.status_code == 302
    with schema_context(org.schema_name):
        lead.refresh_from_db()
    assert (lead.name, lead.company, str(lead.value), lead.tags, lead.source) == (
        "After",
        "Co",
        "7.50",
        ["x", "y"],
        "web",
    )


def test_editing_a_lead_to_another_leads_email_is_refused_unless_allowed(web, make_lead, org):
    """Issue 16: the edit form applies the duplicate check as create does, with its "create anyway" box."""
    make_lead(name="Nancy", email="nancy@northwind.example")
    lead = make_lead(name="Andrew")
    client = web(Role.ADMIN)
    data = {"name": "Andrew", "email": "nancy@northwind.example"}
    refused = client.post(f"/leads/{lead.pk}/edit/", data, HTTP_X_REQUESTED_WITH="fetch")
    assert refused.status_code == 409 and refused.json()["code"] == "duplicate_lead"
    allowed = client.post(f"/leads/{lead.pk}/edit/", {**data, "allow_duplicate": "on"})
    assert allowed.status_code == 302
    with schema_context(org.schema_name):
        lead.refresh_from_db()
    assert lead.email == "nancy@northwind.example"
