"""The Kanban board, its card and summary fragments, and the API transition it calls with the session."""

from __future__ import annotations

import re

from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.leads.models import Lead, Stage
from tests.conftest import host_of
from tests.tenant_apps.web.conftest import signed_in


def column(body: str, stage: str) -> str:
    match = re.search(rf'<section class="column" data-stage="{stage}".*?</section>', body, re.S)
    assert match, stage
    return match.group(0)


def test_one_column_per_stage_with_count_and_total(web, make_lead):
    make_lead(name="Alpha", value="1000.00")
    make_lead(name="Beta", value="2500.50")
    make_lead(name="Gamma", value="300.00", stage=Stage.QUALIFIED)
    body = web(Role.VIEWER).get("/pipeline/").content.decode()
    assert [m for m in re.findall(r'data-stage="([A-Z]+)" aria-labelledby', body)] == Stage.values
    new = column(body, "NEW")
    assert "<span data-count>2</span>" in new and "$3,500.50" in new
    assert "Alpha" in new and "Beta" in new and "Gamma" not in new
    assert "Gamma" in column(body, "QUALIFIED")


def test_cards_offer_the_allowed_moves_to_writers_only(web, make_lead):
    lead = make_lead(name="Mover")
    rep_body = web(Role.ADMIN).get("/pipeline/").content.decode()
    card = re.search(rf'<li class="card" id="lead-{lead.pk}".*?</li>', rep_body, re.S).group(0)
    assert 'draggable="true"' in card
    assert re.findall(r'<option value="([A-Z]+)"', card) == ["CONTACTED", "LOST"]
    assert '<label for="move-' in card
    viewer_body = web(Role.VIEWER).get("/pipeline/").content.decode()
    viewer_card = re.search(rf'<li class="card" id="lead-{lead.pk}".*?</li>', viewer_body, re.S).group(0)
    assert "draggable" not in viewer_card and "<select" not in viewer_card


def test_reps_see_only_their_own_and_unassigned_leads(web, make_lead, member):
    client = web(Role.REP)
    other = member(role=Role.REP)
    make_lead(name="Mine", owner_id=client.user.pk)
    make_lead(name="Nobodys")
    hidden = make_lead(name="Someone elses", owner_id=other.pk)
    body = client.get("/pipeline/").content.decode()
    assert "Mine" in body and "Nobodys" in body and "Someone elses" not in body
    assert client.get(f"/pipeline/cards/{hidden.pk}/").status_code == 404
    assert client.get("/pipeline/summary/").json()["NEW"]["count"] == 2


def test_a_column_shows_its_latest_cards_and_counts_the_rest(web, make_lead, monkeypatch):
    monkeypatch.setattr("tenant_apps.web.selectors.CARDS_PER_STAGE", 2)
    for index in range(4):
        make_lead(name=f"Lead {index}")
    body = column(web(Role.ADMIN).get("/pipeline/").content.decode(), "NEW")
    assert body.count('class="card"') == 2 and "<span data-count>4</span>" in body
    assert "Load more (<span data-hidden>2</span> more)" in body


def test_the_card_fragment_and_summary(web, make_lead):
    lead = make_lead(name="Fragment", value="42.00", stage=Stage.CONTACTED)
    client = web(Role.ADMIN)
    card = client.get(f"/pipeline/cards/{lead.pk}/").content.decode()
    assert card.startswith('<li class="card"') and 'data-stage="CONTACTED"' in card
    summary = client.get("/pipeline/summary/").json()
    assert summary["CONTACTED"] == {"count": 1, "total": "$42"}
    assert set(summary) == set(Stage.values)


def test_the_board_transitions_through_the_api_with_the_session_and_csrf(org, member, make_lead):
    lead = make_lead(name="Session mover")
    client = Client(HTTP_HOST=host_of(org), enforce_csrf_checks=True)
    with schema_context(org.schema_name):
        client.force_login(member(role=Role.MANAGER))
    token = client.get("/pipeline/").cookies["csrftoken"].value
    url = f"/api/leads/{lead.pk}/transition/"
    refused = client.post(url, {"stage": "CONTACTED"}, content_type="application/json")
    assert refused.status_code == 403  # a session without the CSRF token
    moved = client.post(url, {"stage": "CONTACTED"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert moved.status_code == 200 and moved.json()["stage"] == "CONTACTED"
    invalid = client.post(url, {"stage": "WON"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert invalid.status_code == 409
    assert invalid.json()["message"] == "A lead in CONTACTED cannot move to WON; allowed: QUALIFIED, LOST."
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=lead.pk).stage == Stage.CONTACTED


def test_a_session_of_another_organization_cannot_call_the_api(org, other_org, member, make_lead):
    lead = make_lead(name="Not yours")
    acme = signed_in(org, member(role=Role.ADMIN))
    stranger = Client(HTTP_HOST=host_of(other_org))
    stranger.cookies["sessionid"] = acme.cookies["sessionid"].value
    assert stranger.get(f"/api/leads/{lead.pk}/").status_code in (401, 403)
    assert acme.get(f"/api/leads/{lead.pk}/").status_code == 200


def test_the_move_menu_works_without_javascript(web, make_lead, org):
    lead = make_lead(name="No script")
    client = web(Role.ADMIN)
    response = client.post(f"/leads/{lead.pk}/move/", {"stage": "LOST", "next": "/pipeline/"})
    assert (response.status_code, response["Location"]) == (302, "/pipeline/")
    refused = client.post(f"/leads/{lead.pk}/move/", {"stage": "WON", "next": "/pipeline/"}, follow=True)
    assert "A lead in LOST cannot move to WON" in refused.content.decode()
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=lead.pk).stage == Stage.LOST


def test_a_large_organizations_board_counts_from_the_snapshot_and_still_shows_the_latest_cards(
    web, make_lead, member, org, monkeypatch
):
    """Past LIVE_LIMIT open leads the columns' counts and totals are today's snapshot (no scan of the leads),
    narrowed by visibility and the owner filter; the cards stay live; a tag filter is counted live."""
    from tenant_apps.analytics.services import analytics_refresh

    admin_client, rep_client = web(Role.ADMIN), web(Role.REP)
    other = member(role=Role.REP)
    make_lead(name="Rep one", value="1000.00", owner_id=rep_client.user.pk)
    make_lead(name="Unassigned", value="2000.00", tags=["vip"])
    make_lead(name="Other rep", value="4000.00", owner_id=other.pk, stage=Stage.QUALIFIED)
    with schema_context(org.schema_name):
        analytics_refresh()
    make_lead(name="After the snapshot", value="5000.00", tags=["vip"])  # not in the snapshot yet
    monkeypatch.setattr("tenant_apps.web.dashboard_figures.LIVE_LIMIT", 2)

    new = column(admin_client.get("/pipeline/").content.decode(), "NEW")
    assert "<span data-count>2</span>" in new and "$3,000" in new
    assert "After the snapshot" in new and "Rep one" in new
    assert admin_client.get("/pipeline/summary/").json()["QUALIFIED"] == {"count": 1, "total": "$4,000"}
    mine = admin_client.get(f"/pipeline/summary/?owner={rep_client.user.pk}").json()
    assert mine["NEW"] == {"count": 1, "total": "$1,000"} and mine["QUALIFIED"]["count"] == 0
    assert admin_client.get("/pipeline/summary/?owner=none").json()["NEW"]["count"] == 1
    # a rep kept to their own leads: theirs and the unassigned, never another rep's
    rep = rep_client.get("/pipeline/summary/").json()
    assert rep["NEW"] == {"count": 2, "total": "$3,000"} and rep["QUALIFIED"]["count"] == 0
    assert rep_client.get("/pipeline/summary/?owner=me").json()["NEW"]["count"] == 1
    # the snapshot has no tags: a tag filter counts the tag's leads live
    assert admin_client.get("/pipeline/summary/?tag=vip").json()["NEW"] == {"count": 2, "total": "$7,000"}


def test_the_board_reads_the_stage_labels_once_however_many_cards(web, make_lead, monkeypatch):
    from tenant_apps.opportunities import stage_labels
    from tenant_apps.web.templatetags import web_tags

    reads = []

    def counted() -> dict[str, str]:
        reads.append(1)
        return stage_labels.lead_stage_labels()

    monkeypatch.setattr(web_tags, "lead_stage_labels", counted)
    for index in range(5):
        make_lead(name=f"Card {index}", stage=Stage.CONTACTED)
    client = web(Role.ADMIN)
    body = client.get("/pipeline/").content.decode()
    assert body.count('class="card"') == 5 and "Qualified</option>" in body
    assert len(reads) == 1
    more = client.get("/pipeline/columns/CONTACTED/").json()
    assert more["html"].count('class="card"') == 5 and len(reads) == 2
