"""Deal pipelines: the default pipeline every organization has, configuring stages and lost reasons, deals
moving only within their pipeline, history across renames, deleting stages with deals, lead stage labels,
and one organization's pipelines never reaching another."""

from __future__ import annotations

from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.opportunities.models import LostReason, Opportunity, Pipeline, PipelineStage
from tenant_apps.webhooks.models import OutboxEvent
from tests.conftest import client_for

OLD_STAGES = [
    ("QUALIFICATION", 10, False, False),
    ("DISCOVERY", 25, False, False),
    ("PROPOSAL", 50, False, False),
    ("NEGOTIATION", 75, False, False),
    ("CLOSED_WON", 100, True, False),
    ("CLOSED_LOST", 0, False, True),
]


def _pipeline(client, name="Renewals", stages=None):
    body = {"name": name, **({"stages": stages} if stages is not None else {})}
    response = client.post("/api/pipelines/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _stage(pipeline, name):
    return next(stage for stage in pipeline["stages"] if stage["name"] == name)


def _reason_id(org, name="Price"):
    with schema_context(org.schema_name):
        return LostReason.objects.get(name=name).pk


def test_every_organization_has_the_default_sales_pipeline_with_the_old_stages(api):
    response = api(Role.VIEWER).get("/api/pipelines/")
    assert response.status_code == 200
    [sales] = response.json()
    assert (sales["name"], sales["is_default"]) == ("Sales", True)
    assert [(s["key"], s["probability"], s["is_won"], s["is_lost"]) for s in sales["stages"]] == OLD_STAGES
    reasons = api(Role.VIEWER).get("/api/lost-reasons/").json()
    assert {"Price", "Other"} <= {reason["name"] for reason in reasons}


def test_only_admins_change_pipelines(api):
    for role in (Role.VIEWER, Role.REP, Role.MANAGER):
        response = api(role).post("/api/pipelines/", {"name": "Mine"}, format="json")
        assert response.status_code == 403, role
    assert api(Role.ADMIN).post("/api/pipelines/", {"name": "Mine"}, format="json").status_code == 201


def test_a_deal_is_created_in_a_pipeline_and_moves_only_between_its_stages(api, make_account, org):
    admin = api(Role.ADMIN)
    renewals = _pipeline(
        admin,
        stages=[
            {"name": "Contacted", "probability": 30},
            {"name": "Signed", "is_won": True},
            {"name": "Churned", "is_lost": True},
        ],
    )
    account = make_account()
    created = admin.post(
        "/api/opportunities/",
        {"name": "Renewal", "account": account.pk, "pipeline": renewals["id"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    deal = created.json()
    contacted = _stage(renewals, "Contacted")
    assert deal["pipeline"] == {"id": renewals["id"], "name": "Renewals"}
    assert (deal["pipeline_stage"]["id"], deal["stage"], deal["probability"]) == (
        contacted["id"],
        "CONTACTED",
        30,
    )
    # a stage of another pipeline (the default one's, by key or by id) is refused, naming `stage`
    sales = admin.get("/api/pipelines/").json()[0]
    for stage in ("PROPOSAL", _stage(sales, "Proposal")["id"]):
        moved = admin.post(f"/api/opportunities/{deal['id']}/stage/", {"stage": stage}, format="json")
        assert moved.status_code == 400, moved.content
        assert moved.json()["code"] == "unknown_stage" and "stage" in moved.json()["errors"]
    signed = admin.post(
        f"/api/opportunities/{deal['id']}/stage/", {"stage": _stage(renewals, "Signed")["id"]}, format="json"
    )
    assert signed.status_code == 200, signed.content
    assert (signed.json()["is_closed"], signed.json()["probability"]) == (True, 100)


def test_moving_to_a_lost_stage_needs_a_lost_reason(api, make_opportunity, org):
    deal = make_opportunity()
    client = api(Role.MANAGER)
    url = f"/api/opportunities/{deal.pk}/stage/"
    missing = client.post(url, {"stage": "CLOSED_LOST", "reason": "too pricey"}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"].keys() == {"lost_reason"}
    unknown = client.post(url, {"stage": "CLOSED_LOST", "lost_reason": 999_999}, format="json")
    assert unknown.status_code == 400 and "lost_reason" in unknown.json()["errors"]
    with schema_context(org.schema_name):
        assert Opportunity.objects.get(pk=deal.pk).closed_at is None
    lost = client.post(
        url, {"stage": "CLOSED_LOST", "lost_reason": _reason_id(org), "reason": "too pricey"}, format="json"
    )
    assert lost.status_code == 200, lost.content
    body = lost.json()
    assert body["lost_reason"]["name"] == "Price" and body["close_reason"] == "too pricey"
    assert body["is_closed"]


def test_renaming_and_reordering_stages_keeps_history_and_shows_the_current_names(api, make_opportunity, org):
    admin = api(Role.ADMIN)
    deal = make_opportunity()
    admin.post(f"/api/opportunities/{deal.pk}/stage/", {"stage": "DISCOVERY"}, format="json")
    sales = admin.get("/api/pipelines/").json()[0]
    discovery = _stage(sales, "Discovery")
    admin.post(
        f"/api/opportunities/{deal.pk}/stage/", {"stage": _stage(sales, "Proposal")["id"]}, format="json"
    )
    renamed = admin.patch(
        f"/api/pipelines/{sales['id']}/stages/{discovery['id']}/", {"name": "Demo"}, format="json"
    )
    assert renamed.status_code == 200 and renamed.json()["key"] == "DISCOVERY"
    order = [stage["id"] for stage in sales["stages"]]
    order[0], order[1] = order[1], order[0]
    reordered = admin.post(f"/api/pipelines/{sales['id']}/stages/reorder/", {"stages": order}, format="json")
    assert [stage["id"] for stage in reordered.json()] == order
    history = admin.get(f"/api/opportunities/{deal.pk}/stage-history/").json()
    assert [(entry["from"]["key"], entry["to"]["key"]) for entry in history] == [
        ("QUALIFICATION", "DISCOVERY"),
        ("DISCOVERY", "PROPOSAL"),
    ]
    assert history[0]["to"] == {
        "id": discovery["id"],
        "key": "DISCOVERY",
        "name": "Demo",
        "name_then": "Discovery",
    }
    assert history[1]["from"]["name"] == "Demo"
    with schema_context(org.schema_name):  # the timeline rows themselves were never rewritten
        entries = Activity.objects.filter(opportunity_id=deal.pk, type=ActivityType.STAGE_CHANGE)
        assert sorted(entry.subject for entry in entries) == ["Moved to Discovery", "Moved to Proposal"]
    # the old enum value still names the stage in filters
    found = admin.get("/api/opportunities/", {"stage": "PROPOSAL"}).json()["results"]
    assert [row["id"] for row in found] == [deal.pk]


def test_deleting_a_stage_with_deals_needs_move_to(api, make_opportunity, org):
    admin = api(Role.ADMIN)
    deals = [make_opportunity(stage="DISCOVERY") for _ in range(2)]
    sales = admin.get("/api/pipelines/").json()[0]
    discovery, proposal = _stage(sales, "Discovery"), _stage(sales, "Proposal")
    url = f"/api/pipelines/{sales['id']}/stages/{discovery['id']}/"
    refused = admin.delete(url)
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["details"]["count"]) == ("stage_has_opportunities", 2)
    won = _stage(sales, "Closed won")
    assert admin.delete(f"{url}?move_to={won['id']}").status_code == 400  # open deals do not close so
    moved = admin.delete(f"{url}?move_to={proposal['id']}")
    assert moved.status_code == 200 and moved.json() == {"moved": 2}
    with schema_context(org.schema_name):
        assert not PipelineStage.objects.filter(pk=discovery["id"]).exists()
        for deal in deals:
            assert Opportunity.objects.get(pk=deal.pk).pipeline_stage_id == proposal["id"]
            last = Activity.objects.filter(opportunity_id=deal.pk, type=ActivityType.STAGE_CHANGE).last()
            assert last.metadata["from_stage_id"] == discovery["id"]
    history = admin.get(f"/api/opportunities/{deals[0].pk}/stage-history/").json()
    assert history[-1]["from"]["name"] == "Discovery"  # the deleted stage keeps its stored name


def test_a_pipeline_keeps_a_won_and_a_lost_stage_and_the_default_stays(api):
    admin = api(Role.ADMIN)
    sales = admin.get("/api/pipelines/").json()[0]
    lost = _stage(sales, "Closed lost")
    response = admin.delete(f"/api/pipelines/{sales['id']}/stages/{lost['id']}/")
    assert (response.status_code, response.json()["code"]) == (409, "last_lost_stage")
    response = admin.delete(f"/api/pipelines/{sales['id']}/")
    assert (response.status_code, response.json()["code"]) == (409, "pipeline_is_default")


def test_filters_by_pipeline_and_by_stage_id(api, make_account, make_opportunity):
    admin = api(Role.ADMIN)
    renewals = _pipeline(admin)
    account = make_account()
    in_sales = make_opportunity(account=account)
    other = admin.post(
        "/api/opportunities/",
        {"name": "R", "account": account.pk, "pipeline": renewals["id"]},
        format="json",
    ).json()
    by_pipeline = admin.get("/api/opportunities/", {"pipeline": renewals["id"]}).json()["results"]
    assert [row["id"] for row in by_pipeline] == [other["id"]]
    open_stage = _stage(renewals, "Open")["id"]
    by_stage = admin.get("/api/opportunities/", {"stage": str(open_stage)}).json()["results"]
    assert [row["id"] for row in by_stage] == [other["id"]]
    by_key = admin.get("/api/opportunities/", {"stage": "QUALIFICATION"}).json()["results"]
    assert in_sales.pk in [row["id"] for row in by_key] and other["id"] not in [row["id"] for row in by_key]
    bad = admin.get("/api/opportunities/", {"stage": "no such; stage"})
    assert bad.status_code == 400 and "stage" in bad.json()["errors"]


def test_webhook_events_carry_pipeline_and_stage(api, make_opportunity, org):
    admin = api(Role.ADMIN)
    hook = admin.post(
        "/api/webhooks/", {"url": "http://127.0.0.1:9/hook", "event_types": ["opportunity.*"]}, format="json"
    )
    assert hook.status_code == 201, hook.content
    deal = make_opportunity()
    admin.post(f"/api/opportunities/{deal.pk}/stage/", {"stage": "DISCOVERY"}, format="json")
    with schema_context(org.schema_name):
        events = {event.topic: event.payload for event in OutboxEvent.objects.all()}
    created, moved = events["opportunity.created"], events["opportunity.stage_changed"]
    assert {"pipeline_id", "pipeline_name", "stage_id", "stage_name"} <= created["data"].keys()
    data = moved["data"]
    assert (data["stage_name"], data["pipeline_name"], data["from_stage_name"]) == (
        "Discovery",
        "Sales",
        "Qualification",
    )
    assert created["data"]["stage_name"] == "Qualification"


def test_lead_stage_labels_are_renamed_audited_and_shown(api, org, member):
    admin = api(Role.ADMIN)
    assert (
        api(Role.MANAGER)
        .patch("/api/settings/lead-stages/", {"labels": {"NEW": "Inbox"}}, format="json")
        .status_code
        == 403
    )
    response = admin.patch("/api/settings/lead-stages/", {"labels": {"NEW": "Inbox"}}, format="json")
    assert response.status_code == 200 and response.json()["labels"]["NEW"] == "Inbox"
    assert response.json()["labels"]["WON"] == "Won"
    bad = admin.patch("/api/settings/lead-stages/", {"labels": {"OPEN": "x"}}, format="json")
    assert bad.status_code == 400 and "labels.OPEN" in bad.json()["errors"]
    taken = admin.patch("/api/settings/lead-stages/", {"labels": {"LOST": "Won"}}, format="json")
    assert taken.status_code == 400
    lead = admin.post("/api/leads/", {"name": "Ann"}, format="json").json()
    assert (lead["stage"], lead["stage_label"]) == ("NEW", "Inbox")
    with schema_context(org.schema_name):
        event = AuditEvent.objects.get(action="settings.lead_stage_labels_changed")
        assert event.changes == {"NEW": {"from": "New", "to": "Inbox"}}
    # the transitions are the same ones
    moved = admin.post(f"/api/leads/{lead['id']}/transition/", {"stage": "CONTACTED"}, format="json")
    assert moved.status_code == 200


def test_one_organizations_pipelines_never_reach_another(api, org, other_org, member):
    ours = _pipeline(api(Role.ADMIN), name="Acme only")
    theirs = client_for(other_org, member(role=Role.ADMIN, organization=other_org))
    names = [pipeline["name"] for pipeline in theirs.get("/api/pipelines/").json()]
    assert names == ["Sales"]
    with schema_context(other_org.schema_name):
        assert not Pipeline.objects.filter(name="Acme only").exists()
    assert theirs.get(f"/api/analytics/deals/?pipeline={ours['id'] + 1000}").status_code == 404
    theirs.patch("/api/settings/lead-stages/", {"labels": {"NEW": "Fresh"}}, format="json")
    assert api(Role.ADMIN).get("/api/settings/lead-stages/").json()["labels"]["NEW"] == "New"


def test_a_new_pipeline_needs_open_won_and_lost_stages_and_unknown_fields_are_named(api):
    admin = api(Role.ADMIN)
    response = admin.post(
        "/api/pipelines/", {"name": "Half", "stages": [{"name": "Only", "probability": 5}]}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "stages_missing")
    response = admin.post(
        "/api/pipelines/", {"name": "Typo", "stages": [{"name": "A", "probabilty": 5}]}, format="json"
    )
    assert response.status_code == 400 and list(response.json()["errors"]) == ["stages[0].probabilty"]
    stages = [{"name": "A", "is_won": True, "is_lost": True}]
    both = admin.post("/api/pipelines/", {"name": "Both", "stages": stages}, format="json")
    assert both.status_code == 400
    names = {pipeline["name"] for pipeline in admin.get("/api/pipelines/").json()}
    assert names == {"Sales"}  # nothing half made
