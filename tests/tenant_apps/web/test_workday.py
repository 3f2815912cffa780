"""The web app's second generation, part B, through the test client: the top bar's search type-ahead and
notification count, the board's filters, column paging and markers, the lead list's columns, sorting,
bulk actions and trash, the imports page's mapping and buttons, and the onboarding checklist."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role
from tenant_apps.imports.models import Import
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.notifications.services import notify
from tenant_apps.sequences import services as sequence_services
from tenant_apps.web.models import ListColumns

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def column(body: str, stage: str) -> str:
    match = re.search(rf'<section class="column" data-stage="{stage}".*?</section>', body, re.S)
    assert match, stage
    return match.group(0)


# ---- the top bar ---------------------------------------------------------------------------------------


def test_search_suggests_records_of_every_type_with_their_pages(web, make_lead, make_account):
    lead = make_lead(name="Zebulon Quartz", company="Quartz Mining")
    account = make_account(name="Quartz Holdings")
    body = web(Role.VIEWER).get("/search/suggest/", {"q": "quartz"}).json()
    found = {(hit["type"], hit["url"]) for hit in body["results"]}
    assert ("lead", f"/leads/{lead.pk}/") in found
    assert ("account", f"/accounts/{account.pk}/") in found
    assert all(hit["label"] and hit["title"] for hit in body["results"])
    assert set(body) == {"results"}  # the text asked is not echoed back


def test_search_suggests_nothing_for_one_character_and_hides_other_reps_leads(web, make_lead, member):
    client = web(Role.REP)
    make_lead(name="Yardley Own", owner_id=client.user.pk)
    make_lead(name="Yardley Hidden", owner_id=member(role=Role.REP).pk)
    assert client.get("/search/suggest/", {"q": "y"}).json()["results"] == []
    titles = [hit["title"] for hit in client.get("/search/suggest/", {"q": "yardley"}).json()["results"]]
    assert titles == ["Yardley Own"]


def test_the_bell_counts_unread_notifications_and_the_menu_is_a_button(web, org):
    client = web(Role.REP)
    with schema_context(org.schema_name):
        for index in range(3):
            notify(recipient=client.user, kind="x", title=f"Ping {index}")
    page = client.get("/tasks/").content.decode()
    assert re.search(r'id="bell-count" data-count="3">3<', page)
    assert 'id="menu-button" aria-expanded="false" aria-controls="main-nav"' in page
    assert 'role="combobox"' in page and 'data-suggest-url="/search/suggest/"' in page
    assert 'class="flash toasts"' in page  # messages float over the page


# ---- the board -----------------------------------------------------------------------------------------


def test_the_board_filters_by_owner_and_tag_in_cards_and_counts(web, make_lead, member):
    client = web(Role.ADMIN)
    rep = member(role=Role.REP)
    make_lead(name="Tagged Hot", tags=["hot"], owner_id=rep.pk)
    make_lead(name="Untagged Cold")
    body = client.get("/pipeline/", {"tag": "hot"}).content.decode()
    assert "Tagged Hot" in body and "Untagged Cold" not in body
    assert "<span data-count>1</span>" in column(body, "NEW")
    body = client.get("/pipeline/", {"owner": str(rep.pk)}).content.decode()
    assert "Tagged Hot" in body and "Untagged Cold" not in body
    assert client.get("/pipeline/summary/", {"owner": "none"}).json()["NEW"]["count"] == 1


def test_a_bad_board_filter_is_a_400_naming_the_field(web):
    client = web(Role.ADMIN)
    assert client.get("/pipeline/", {"owner": "nobody-at-all"}).status_code == 400
    answer = client.get("/pipeline/summary/", {"owner": "x"})
    assert answer.status_code == 400 and "owner" in answer.json()["errors"]
    answer = client.get("/pipeline/columns/NEW/", {"cursor": "not-ours"})
    assert answer.status_code == 400 and "cursor" in answer.json()["errors"]
    assert client.get("/pipeline/columns/NOPE/").status_code == 404


def test_a_column_loads_its_further_cards_a_page_at_a_time(web, make_lead, monkeypatch):
    monkeypatch.setattr("tenant_apps.web.selectors.CARDS_PER_STAGE", 2)
    leads = [make_lead(name=f"Paged {index}") for index in range(5)]
    client = web(Role.ADMIN)
    new = column(client.get("/pipeline/").content.decode(), "NEW")
    assert new.count('<li class="card') == 2 and "<span data-hidden>3</span> more" in new
    cursor = re.search(r'class="load-more" data-cursor="([^"]+)"', new).group(1)
    page = client.get("/pipeline/columns/NEW/", {"cursor": cursor}).json()
    ids = re.findall(r'data-id="(\d+)"', page["html"])
    assert ids == [str(leads[2].pk), str(leads[1].pk)] and page["next_cursor"]
    last = client.get("/pipeline/columns/NEW/", {"cursor": page["next_cursor"]}).json()
    assert re.findall(r'data-id="(\d+)"', last["html"]) == [str(leads[0].pk)] and last["next_cursor"] == ""


def test_cards_show_age_and_a_stale_marker(web, make_lead, org):
    fresh = make_lead(name="Fresh One")
    old = make_lead(name="Old One")
    with schema_context(org.schema_name):
        Lead.objects.filter(pk=old.pk).update(
            stage_changed_at=timezone.now() - timedelta(days=20),
            created_at=timezone.now() - timedelta(days=30),
        )
    body = web(Role.ADMIN).get("/pipeline/").content.decode()
    old_card = re.search(rf'<li class="card[^"]*" id="lead-{old.pk}".*?</li>', body, re.S).group(0)
    fresh_card = re.search(rf'<li class="card[^"]*" id="lead-{fresh.pk}".*?</li>', body, re.S).group(0)
    assert 'class="card stale"' in old_card and "Stale" in old_card and "20 d in stage" in old_card
    assert "30 d old" in old_card
    assert "stale" not in fresh_card


def test_quick_add_on_the_board_returns_to_the_board(web, org):
    client = web(Role.REP)
    page = client.get("/pipeline/").content.decode()
    assert "+ add" in column(page, "NEW") and "+ add" not in column(page, "CONTACTED")
    response = client.post("/leads/new/", {"name": "Quick Added", "next": "/pipeline/"})
    assert (response.status_code, response["Location"]) == (302, "/pipeline/")
    with schema_context(org.schema_name):
        assert Lead.objects.get(name="Quick Added").stage == Stage.NEW


def test_an_empty_board_says_what_to_do(web):
    body = web(Role.ADMIN).get("/pipeline/").content.decode()
    assert "Your pipeline is empty" in body and "sample data" in body


# ---- the lead list -------------------------------------------------------------------------------------


def test_bulk_reassign_and_tag(web, make_lead, member, org):
    client = web(Role.MANAGER)
    rep = member(role=Role.REP)
    first, second = make_lead(name="Bulk A"), make_lead(name="Bulk B", tags=["vip"])
    ids = [str(first.pk), str(second.pk)]
    body = client.post("/leads/bulk/", {"ids": ids, "action": "assign", "owner": str(rep.pk)}, **FETCH).json()
    assert sorted(body["done"]) == sorted([first.pk, second.pk]) and body["errors"] == []
    assert (
        client.post("/leads/bulk/", {"ids": ids, "action": "tag", "tag": "VIP"}, **FETCH).status_code == 200
    )
    with schema_context(org.schema_name):
        assert {lead.owner_id for lead in Lead.objects.filter(pk__in=ids)} == {rep.pk}
        assert Lead.objects.get(pk=first.pk).tags == ["vip"]
        assert Lead.objects.get(pk=second.pk).tags == ["vip"]


def test_bulk_move_reports_each_refused_row_and_moves_the_others(web, make_lead, org):
    client = web(Role.ADMIN)
    movable, won = make_lead(name="Can Move"), make_lead(name="Already Won", stage=Stage.WON)
    answer = client.post(
        "/leads/bulk/",
        {"ids": [str(movable.pk), str(won.pk)], "action": "move", "stage": "CONTACTED"},
        **FETCH,
    )
    body = answer.json()
    assert answer.status_code == 200 and body["done"] == [movable.pk]
    assert [(error["id"], error["name"], error["code"]) for error in body["errors"]] == [
        (won.pk, "Already Won", "transition_not_allowed")
    ]
    assert body["message"] == "1 lead moved. 1 refused."
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=movable.pk).stage == Stage.CONTACTED
        assert Lead.objects.get(pk=won.pk).stage == Stage.WON
    # nothing done at all: the refusal's own status
    assert (
        client.post(
            "/leads/bulk/", {"ids": [str(won.pk)], "action": "move", "stage": "NEW"}, **FETCH
        ).status_code
        == 409
    )


def test_bulk_actions_keep_to_the_reps_own_leads(web, make_lead, member, org):
    client = web(Role.REP)
    mine = make_lead(name="Rep Own", owner_id=client.user.pk)
    theirs = make_lead(name="Rep Other", owner_id=member(role=Role.REP).pk)
    body = client.post(
        "/leads/bulk/", {"ids": [str(mine.pk), str(theirs.pk)], "action": "delete"}, **FETCH
    ).json()
    assert body["done"] == [mine.pk] and body["errors"][0]["code"] == "lead_not_found"
    assert body["errors"][0]["name"] == f"#{theirs.pk}"  # a hidden lead's name is not revealed
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=theirs.pk).deleted_at is None


def test_bulk_input_is_checked(web, make_lead):
    client = web(Role.ADMIN)
    lead = make_lead()
    for data, field in (
        ({"action": "delete"}, "ids"),
        ({"ids": ["x"], "action": "delete"}, "ids"),
        ({"ids": [str(n) for n in range(1, 202)], "action": "delete"}, "ids"),
        ({"ids": [str(lead.pk)], "action": "explode"}, "action"),
        ({"ids": [str(lead.pk)], "action": "move"}, "stage"),
        ({"ids": [str(lead.pk)], "action": "assign", "owner": "who"}, "owner"),
    ):
        answer = client.post("/leads/bulk/", data, **FETCH)
        assert answer.status_code == 400 and field in answer.json()["errors"], (data, answer.content)
    assert (
        web(Role.VIEWER)
        .post("/leads/bulk/", {"ids": [str(lead.pk)], "action": "delete"}, **FETCH)
        .status_code
        == 403
    )


def test_bulk_add_to_sequence(web, make_lead, org, admin):
    client = web(Role.ADMIN)
    with schema_context(org.schema_name):
        sequence = sequence_services.sequence_create(
            actor=admin, name="Welcome", steps=[{"subject": "Hi", "body": "Hello", "delay_days": 0}]
        )
    with_email, without = make_lead(name="Has Mail", email="has@mail.test"), make_lead(name="No Mail")
    body = client.post(
        "/leads/bulk/",
        {"ids": [str(with_email.pk), str(without.pk)], "action": "sequence", "sequence": str(sequence.pk)},
        **FETCH,
    ).json()
    assert body["done"] == [with_email.pk] and body["errors"][0]["code"] == "no_email"


def test_deleted_leads_go_to_the_trash_and_come_back(web, make_lead, org):
    client = web(Role.ADMIN)
    lead = make_lead(name="Trash Me")
    client.post("/leads/bulk/", {"ids": [str(lead.pk)], "action": "delete"}, **FETCH)
    assert "Trash Me" not in client.get("/leads/").content.decode()
    trash = client.get("/leads/trash/").content.decode()
    assert f'id="trash-{lead.pk}"' in trash and f'action="/leads/{lead.pk}/restore/"' in trash
    response = client.post(f"/leads/{lead.pk}/restore/", {"next": "/leads/trash/"})
    assert (response.status_code, response["Location"]) == (302, "/leads/trash/")
    assert "Trash Me" in client.get("/leads/").content.decode()
    assert "The trash is empty." in client.get("/leads/trash/").content.decode()
    # restoring a live lead is refused, not a 500
    assert client.post(f"/leads/{lead.pk}/restore/", **FETCH).status_code == 409


def test_chosen_columns_are_kept_per_member(web, make_lead, org):
    client, other = web(Role.REP), web(Role.REP)
    make_lead(name="Columned", email="col@umn.test", owner_id=client.user.pk)
    response = client.post("/leads/columns/", {"columns": ["email", "stage"], "next": "/leads/"})
    assert response.status_code == 302
    page = client.get("/leads/").content.decode()
    assert re.findall(r'<div class="cell cell-(\w+)">', page) == ["stage", "email"]
    assert "col@umn.test" in page
    with schema_context(org.schema_name):
        assert ListColumns.objects.get(member=client.user).columns == ["stage", "email"]
    assert "cell-email" not in other.get("/leads/").content.decode()  # the other member keeps the defaults
    answer = client.post("/leads/columns/", {"columns": ["password"]}, **FETCH)
    assert answer.status_code == 400 and "columns" in answer.json()["errors"]
    assert web(Role.VIEWER).post("/leads/columns/", {"columns": ["email"]}, **FETCH).status_code == 200


def test_the_list_sorts_by_a_column_and_pages(web, make_lead, monkeypatch):
    monkeypatch.setattr("tenant_apps.web.selectors.PAGE_SIZE", 2)
    for name, value in (("Sort B", "300"), ("Sort A", "100"), ("Sort C", "200")):
        make_lead(name=name, value=value)
    client = web(Role.ADMIN)
    page = client.get("/leads/", {"sort": "value"}).content.decode()
    assert re.findall(r'class="name" href="/leads/\d+/">(Sort \w)<', page) == ["Sort A", "Sort C"]
    more = re.search(r'<a class="button" href="\?([^"]+)">More leads', page).group(1).replace("&amp;", "&")
    rest = client.get(f"/leads/?{more}").content.decode()
    assert re.findall(r'class="name" href="/leads/\d+/">(Sort \w)<', rest) == ["Sort B"]
    page = client.get("/leads/", {"sort": "-name"}).content.decode()
    assert re.findall(r'class="name" href="/leads/\d+/">(Sort \w)<', page) == ["Sort C", "Sort B"]
    assert client.get("/leads/", {"sort": "password"}).status_code == 200  # a field error shown, no 500


def test_the_filter_panel_is_folded_unless_filtering(web):
    client = web(Role.ADMIN)
    assert '<details class="filter-panel" id="filter-panel">' in client.get("/leads/").content.decode()
    assert (
        '<details class="filter-panel" id="filter-panel" open>'
        in client.get("/leads/?tag=x").content.decode()
    )


# ---- imports -------------------------------------------------------------------------------------------


def test_the_imports_page_offers_mapping_and_cancel_or_revert(web, org):
    client = web(Role.MANAGER)
    page = client.get("/imports/").content.decode()
    fields = json.loads(
        re.search(r'<script id="import-fields" type="application/json">(.*?)</script>', page, re.S).group(1)
    )
    assert fields["lead"]["required"] == ["name"] and fields["lead"]["aliases"]["e_mail"] == "email"
    assert "task" in fields
    upload = SimpleUploadedFile("odd.csv", b"Who,Mail\nOdd Header,odd@header.test\n", content_type="text/csv")
    mapping = json.dumps({"Who": "name", "Mail": "email"})
    response = client.post(
        "/imports/upload/",
        {"file": upload, "record_type": "lead", "duplicate_policy": "skip", "mapping": mapping},
    )
    assert response.status_code == 302
    with schema_context(org.schema_name):
        run = Import.objects.filter(file_name="odd.csv").latest("id")
    assert run.mapping == {"name": 0, "email": 1}  # without the mapping, no header names a field
    row = re.search(
        rf'<li class="row import" id="import-{run.pk}".*?</li>',
        client.get("/imports/").content.decode(),
        re.S,
    ).group(0)
    assert re.search(r'data-action="cancel"[^>]*>Cancel', row) and re.search(
        r'data-action="revert"[^>]*hidden>Revert', row
    )
    bad = SimpleUploadedFile("x.csv", b"a\n1\n", content_type="text/csv")
    answer = client.post(
        "/imports/upload/",
        {"file": bad, "record_type": "lead", "duplicate_policy": "skip", "mapping": "[1, 2]"},
        **FETCH,
    )
    assert answer.status_code == 400


# ---- onboarding ----------------------------------------------------------------------------------------


def test_the_checklist_ticks_itself(web, make_lead, org):
    with schema_context(org.schema_name):
        Import.objects.all().delete()  # (rolled back with the test) an organization that never imported
    client = web(Role.ADMIN)  # a second member: the team is invited
    page = client.get("/").content.decode()
    assert 'id="getting-started"' in page and "1 of 3 done" in page
    assert 'id="step-invite" data-done="true"' in page
    assert 'id="step-import" data-done="false"' in page and 'id="step-pipeline" data-done="false"' in page
    assert 'action="/onboarding/sample-data/"' in page  # an admin may load sample data
    assert 'action="/onboarding/sample-data/"' not in web(Role.MANAGER).get("/").content.decode()
    lead = make_lead(name="First")
    page = client.get("/").content.decode()
    assert 'id="step-import" data-done="true"' in page and 'id="step-pipeline" data-done="false"' in page
    with schema_context(org.schema_name):
        from tenant_apps.leads.services import lead_transition

        lead_transition(lead_id=lead.pk, to_stage=Stage.CONTACTED, actor=client.user)
    assert 'id="getting-started"' not in client.get("/").content.decode()  # all done: it leaves the page


def test_an_admin_loads_sample_data_once_audited(web, org):
    client = web(Role.ADMIN)
    assert web(Role.MANAGER).post("/onboarding/sample-data/", **FETCH).status_code == 403
    answer = client.post("/onboarding/sample-data/", **FETCH)
    assert answer.status_code == 200 and answer.json()["created"] == 40
    with schema_context(org.schema_name):
        assert Lead.objects.count() == 40
        assert AuditEvent.objects.filter(action="organization.sample_data_loaded").count() == 1
    assert client.post("/onboarding/sample-data/", **FETCH).status_code == 409


@pytest.mark.parametrize("path", ["/", "/pipeline/", "/leads/", "/leads/trash/", "/imports/", "/tasks/"])
def test_every_page_of_the_part_has_the_top_bar(web, path):
    page = web(Role.ADMIN).get(path).content.decode()
    assert 'id="global-search"' in page and 'id="bell"' in page


def test_a_large_organizations_dashboard_reads_the_snapshot_not_the_leads(web, make_lead, org, monkeypatch):
    from tenant_apps.analytics.services import analytics_refresh

    client = web(Role.ADMIN)
    for index in range(3):
        make_lead(name=f"Snap {index}", value="1000.00")
    with schema_context(org.schema_name):
        analytics_refresh()
    make_lead(name="After the snapshot", value="5000.00")  # not in the snapshot yet
    live = client.get("/").content.decode()
    assert "4 leads" in live and "from the latest pipeline snapshot" not in live
    monkeypatch.setattr("tenant_apps.web.dashboard_figures.LIVE_LIMIT", 2)
    page = client.get("/").content.decode()
    assert "from the latest pipeline snapshot" in page
    assert "3 leads" in page and "$3,000" in page
