"""The deal table (`/opportunities/`) through the test client: chosen columns (custom fields included),
sorting, filters and their 400s, the bulk actions (each deal through its own checks, refusals reported per
row), what a rep may see and change, and the trash with its restore."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.opportunities.models import LostReason, Opportunity, PipelineStage
from tenant_apps.opportunities.pipelines import pipeline_create
from tenant_apps.web.models import ListColumns
from tests.tenant_apps.customfields.conftest import make_field

__all__ = ["make_field"]

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


pytestmark = pytest.mark.usefixtures("fresh_definitions")


def stage_id(org, key: str, pipeline: str = "Sales") -> int:
    with schema_context(org.schema_name):
        return PipelineStage.objects.get(pipeline__name=pipeline, key=key).pk


def names_in(page: str, word: str) -> list[str]:
    """The deal names of the table's rows, in order, that contain `word`."""
    return [
        name
        for name in re.findall(r'<a class="name" href="/opportunities/\d+/">([^<]+)</a>', page)
        if word in name
    ]


def test_the_table_sorts_filters_and_shows_the_chosen_columns(web, org, make_opportunity, make_field):
    field = make_field("region", "text", record_type="opportunity", label="Region")
    client = web(Role.MANAGER)
    small = make_opportunity(
        name="Tbl small", amount="100", tags=["tbl"], expected_close_date=date(2031, 1, 10)
    )
    big = make_opportunity(name="Tbl big", amount="9000", custom={"region": "Nordics"})
    make_opportunity(name="Tbl middle", amount="500", stage="PROPOSAL", owner_id=client.user.pk)
    page = client.get("/opportunities/", {"sort": "-amount"}).content.decode()
    assert names_in(page, "Tbl") == ["Tbl big", "Tbl middle", "Tbl small"]
    assert names_in(client.get("/opportunities/?sort=amount").content.decode(), "Tbl")[:1] == ["Tbl small"]
    # filters: amount range, stage, owner, tag, close dates, pipeline
    assert names_in(client.get("/opportunities/?amount_min=200&amount_max=600").content.decode(), "Tbl") == [
        "Tbl middle"
    ]
    proposal = stage_id(org, "PROPOSAL")
    assert names_in(client.get(f"/opportunities/?stage={proposal}").content.decode(), "Tbl") == ["Tbl middle"]
    assert names_in(client.get("/opportunities/?owner=me").content.decode(), "Tbl") == ["Tbl middle"]
    assert names_in(client.get("/opportunities/?tag=TBL").content.decode(), "Tbl") == ["Tbl small"]
    dated = client.get("/opportunities/?closing_after=2031-01-10&closing_before=2031-01-10").content.decode()
    assert names_in(dated, "Tbl") == ["Tbl small"]
    with schema_context(org.schema_name):
        other = pipeline_create(name="Tbl renewals")
    assert names_in(client.get(f"/opportunities/?pipeline={other.pk}").content.decode(), "Tbl") == []
    # the columns: the deals' own and their custom fields, chosen per member
    saved = client.post(
        "/deals/columns/", {"columns": ["amount", f"custom.{field.key}"], "next": "/opportunities/"}
    )
    assert saved.status_code == 302
    with schema_context(org.schema_name):
        assert ListColumns.objects.get(member=client.user, list_name="deals").columns == [
            "amount",
            "custom.region",
        ]
    page = client.get("/opportunities/").content.decode()
    assert re.findall(r'<div class="cell cell-([\w.]+)">', page)[:2] == ["amount", "custom.region"]
    assert "Nordics" in page and ">Region</label>" in page
    assert big.pk and small.pk
    refused = client.post("/deals/columns/", {"columns": ["password"]}, **FETCH)
    assert refused.status_code == 400 and "columns" in refused.json()["errors"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"amount_min": "lots"}, "amount_min"),
        ({"closing_before": "2031-13-40"}, "closing_before"),
        ({"stage": "NO_SUCH_STAGE"}, "stage"),
        ({"stage": "a b"}, "stage"),
        ({"pipeline": "-1"}, "pipeline"),
        ({"owner": "who"}, "owner"),
        ({"sort": "password"}, "sort"),
        ({"cursor": "not-ours"}, "cursor"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field(web, query, field):
    client = web(Role.REP)
    answer = client.get("/opportunities/", query, **FETCH)
    assert answer.status_code == 400 and field in answer.json()["errors"], answer.content
    page = client.get("/opportunities/", query)
    assert page.status_code == 400 and 'role="alert"' in page.content.decode()


def test_a_rep_sees_only_their_own_and_unassigned_deals(web, make_opportunity, member):
    client = web(Role.REP)
    make_opportunity(name="Vis mine", owner_id=client.user.pk)
    make_opportunity(name="Vis nobody's")
    make_opportunity(name="Vis theirs", owner_id=member(role=Role.REP).pk)
    for query in ({}, {"sort": "name"}, {"q": "Vis"}):
        shown = names_in(client.get("/opportunities/", query).content.decode(), "Vis")
        assert sorted(shown) == ["Vis mine", "Vis nobody&#x27;s"], query


def test_bulk_reassign_tag_and_untag(web, org, make_opportunity, member):
    client = web(Role.MANAGER)
    rep = member(role=Role.REP)
    first, second = make_opportunity(name="Bulk one"), make_opportunity(name="Bulk two", tags=["hot"])
    ids = [str(first.pk), str(second.pk)]
    body = client.post("/deals/bulk/", {"ids": ids, "action": "assign", "owner": str(rep.pk)}, **FETCH).json()
    assert sorted(body["done"]) == sorted([first.pk, second.pk]) and body["message"] == "2 deals reassigned."
    assert (
        client.post("/deals/bulk/", {"ids": ids, "action": "tag", "tag": "HOT"}, **FETCH).status_code == 200
    )
    with schema_context(org.schema_name):
        assert {deal.owner_id for deal in Opportunity.objects.filter(pk__in=ids)} == {rep.pk}
        assert Opportunity.objects.get(pk=first.pk).tags == ["hot"]
        assert Opportunity.objects.get(pk=second.pk).tags == ["hot"]
    client.post("/deals/bulk/", {"ids": ids, "action": "untag", "tag": "hot"}, **FETCH)
    with schema_context(org.schema_name):
        assert [deal.tags for deal in Opportunity.objects.filter(pk__in=ids)] == [[], []]


def test_bulk_move_keeps_to_each_deals_pipeline_and_reports_refused_rows(web, org, make_opportunity):
    client = web(Role.ADMIN)
    with schema_context(org.schema_name):
        renewals = pipeline_create(name="Bulk renewals")
    movable = make_opportunity(name="Move me")
    elsewhere = make_opportunity(name="Other pipeline", pipeline=renewals.pk)
    won = make_opportunity(name="Won already", stage="CLOSED_WON")
    answer = client.post(
        "/deals/bulk/",
        {
            "ids": [str(movable.pk), str(elsewhere.pk), str(won.pk)],
            "action": "move",
            "stage": stage_id(org, "PROPOSAL"),
        },
        **FETCH,
    )
    body = answer.json()
    assert answer.status_code == 200 and body["done"] == [movable.pk], body
    assert [(error["id"], error["name"], error["status"]) for error in body["errors"]] == [
        (elsewhere.pk, "Other pipeline", 400),
        (won.pk, "Won already", 409),
    ]
    assert body["message"] == "1 deal moved. 2 refused."
    with schema_context(org.schema_name):
        assert Opportunity.objects.get(pk=movable.pk).stage == "PROPOSAL"
        assert Opportunity.objects.get(pk=elsewhere.pk).pipeline_id == renewals.pk


def test_bulk_move_to_a_lost_stage_needs_a_lost_reason(web, org, make_opportunity):
    client = web(Role.ADMIN)
    deal = make_opportunity(name="Lose me")
    lost = stage_id(org, "CLOSED_LOST")
    refused = client.post("/deals/bulk/", {"ids": [str(deal.pk)], "action": "move", "stage": lost}, **FETCH)
    assert refused.status_code == 400 and "lost_reason" in refused.json()["errors"]
    with schema_context(org.schema_name):
        reason = LostReason.objects.get(name="Price").pk
    data = {"ids": [str(deal.pk)], "action": "move", "stage": lost, "lost_reason": reason}
    assert client.post("/deals/bulk/", data, **FETCH).status_code == 200
    with schema_context(org.schema_name):
        deal.refresh_from_db()
        assert (deal.stage, deal.lost_reason_id) == ("CLOSED_LOST", reason)


def test_bulk_actions_keep_to_the_reps_own_deals(web, org, make_opportunity, member):
    client = web(Role.REP)
    mine = make_opportunity(name="Rep own deal", owner_id=client.user.pk)
    theirs = make_opportunity(name="Rep other deal", owner_id=member(role=Role.REP).pk)
    unassigned = make_opportunity(name="Nobody's deal")
    ids = [str(mine.pk), str(theirs.pk), str(unassigned.pk)]
    body = client.post("/deals/bulk/", {"ids": ids, "action": "delete"}, **FETCH).json()
    assert body["done"] == [mine.pk]
    assert [(error["id"], error["name"], error["status"]) for error in body["errors"]] == [
        (theirs.pk, f"#{theirs.pk}", 404),  # a hidden deal's name is not revealed
        (unassigned.pk, "Nobody's deal", 403),  # seen, not theirs to change
    ]
    with schema_context(org.schema_name):
        assert (
            Opportunity.objects.filter(pk__in=[theirs.pk, unassigned.pk], deleted_at__isnull=True).count()
            == 2
        )


def test_bulk_input_is_checked(web, make_opportunity):
    client = web(Role.ADMIN)
    deal = make_opportunity()
    one = [str(deal.pk)]
    for data, field in (
        ({"action": "delete"}, "ids"),
        ({"ids": ["x"], "action": "delete"}, "ids"),
        ({"ids": [str(n) for n in range(1, 202)], "action": "delete"}, "ids"),
        ({"ids": one, "action": "sequence"}, "action"),
        ({"ids": one, "action": "move"}, "stage"),
        ({"ids": one, "action": "move", "stage": "99999999"}, "stage"),
        ({"ids": one, "action": "move", "stage": "x"}, "stage"),
        ({"ids": one, "action": "tag"}, "tag"),
        ({"ids": one, "action": "assign", "owner": "who"}, "owner"),
    ):
        answer = client.post("/deals/bulk/", data, **FETCH)
        assert answer.status_code == 400 and field in answer.json()["errors"], (data, answer.content)
    viewer = web(Role.VIEWER).post("/deals/bulk/", {"ids": one, "action": "delete"}, **FETCH)
    assert viewer.status_code == 403 and viewer.json()["code"] == "read_only"
    # a form post (no script) comes back to the table with the refusal as a message
    back = client.post("/deals/bulk/", {"action": "delete", "next": "/opportunities/?sort=name"})
    assert (back.status_code, back["Location"]) == (302, "/opportunities/?sort=name")


def test_deleted_deals_go_to_the_trash_and_come_back(web, make_opportunity):
    client = web(Role.ADMIN)
    deal = make_opportunity(name="Trash deal", owner_id=client.user.pk)
    client.post("/deals/bulk/", {"ids": [str(deal.pk)], "action": "delete"}, **FETCH)
    assert "Trash deal" not in client.get("/opportunities/").content.decode()
    trash = client.get("/deals/trash/").content.decode()
    assert f'id="trash-{deal.pk}"' in trash and f'action="/deals/{deal.pk}/restore/"' in trash
    # a rep sees no one else's deleted deal, and cannot restore it
    rep = web(Role.REP)
    assert f'id="trash-{deal.pk}"' not in rep.get("/deals/trash/").content.decode()
    assert rep.post(f"/deals/{deal.pk}/restore/", **FETCH).status_code == 404
    unassigned = make_opportunity(name="Unassigned trash")
    client.post("/deals/bulk/", {"ids": [str(unassigned.pk)], "action": "delete"}, **FETCH)
    assert f'id="trash-{unassigned.pk}"' in rep.get("/deals/trash/").content.decode()
    assert rep.post(f"/deals/{unassigned.pk}/restore/", **FETCH).status_code == 403  # seen, not theirs
    response = client.post(f"/deals/{deal.pk}/restore/", {"next": "/deals/trash/"})
    assert (response.status_code, response["Location"]) == (302, "/deals/trash/")
    assert "Trash deal" in client.get("/opportunities/").content.decode()
    assert f'id="trash-{deal.pk}"' not in client.get("/deals/trash/").content.decode()
    assert client.post(f"/deals/{deal.pk}/restore/", **FETCH).status_code == 409  # a live deal
