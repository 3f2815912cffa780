"""The deals board (a Kanban per pipeline, moves through the opportunity service, lost asks for a reason)
and the pipelines settings page (admins: pipelines, stages, lost reasons, lead stage labels)."""

from __future__ import annotations

from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role
from tenant_apps.opportunities.models import LostReason, Opportunity, Pipeline, PipelineStage
from tenant_apps.opportunities.pipelines import pipeline_create

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def _stage_id(org, key, pipeline_name="Sales"):
    with schema_context(org.schema_name):
        return PipelineStage.objects.get(pipeline__name=pipeline_name, key=key).pk


def test_the_board_shows_a_pipelines_stages_and_its_deals_only(web, org, make_opportunity):
    make_opportunity(name="Big sales deal", stage="PROPOSAL")
    with schema_context(org.schema_name):
        renewals = pipeline_create(
            name="Renewals",
            stages=[{"name": "Due"}, {"name": "Renewed", "is_won": True}, {"name": "Gone", "is_lost": True}],
        )
    page = web(Role.REP).get("/deals/board/").content.decode()
    assert "Deals: Sales" in page and "Big sales deal" in page and ">Negotiation</h2>" in page
    assert 'href="/deals/board/"' in page  # the nav
    other = web(Role.REP).get(f"/deals/board/?pipeline={renewals.pk}").content.decode()
    assert ">Due</h2>" in other and "Big sales deal" not in other and ">Proposal</h2>" not in other
    assert web(Role.REP).get("/deals/board/?pipeline=999999").status_code == 404
    assert web(Role.REP).get("/deals/board/?pipeline=x").status_code == 404


def test_a_move_on_the_board_goes_through_the_service_and_lost_needs_a_reason(web, org, make_opportunity):
    deal = make_opportunity(stage="PROPOSAL")
    client = web(Role.MANAGER)
    lost = _stage_id(org, "CLOSED_LOST")
    refused = client.post(f"/deals/board/move/{deal.pk}/", {"stage": lost}, **FETCH)
    assert refused.status_code == 400 and refused.json()["code"] == "required"
    with schema_context(org.schema_name):
        reason = LostReason.objects.get(name="Price").pk
    moved = client.post(f"/deals/board/move/{deal.pk}/", {"stage": lost, "lost_reason": reason}, **FETCH)
    assert moved.status_code == 200, moved.content
    with schema_context(org.schema_name):
        deal.refresh_from_db()
        assert (deal.stage, deal.lost_reason_id, deal.closed_at is not None) == ("CLOSED_LOST", reason, True)
    again = client.post(f"/deals/board/move/{deal.pk}/", {"stage": _stage_id(org, "PROPOSAL")}, **FETCH)
    assert again.status_code == 409  # closed stages are final


def test_viewers_and_other_reps_cannot_move_deals(web, org, make_opportunity, member):
    owner = member(role=Role.REP)
    deal = make_opportunity(owner_id=owner.pk)
    target = {"stage": _stage_id(org, "DISCOVERY")}
    assert web(Role.VIEWER).post(f"/deals/board/move/{deal.pk}/", target, **FETCH).status_code == 403
    assert web(Role.REP).post(f"/deals/board/move/{deal.pk}/", target, **FETCH).status_code in (403, 404)
    with schema_context(org.schema_name):
        assert Opportunity.objects.get(pk=deal.pk).stage == "QUALIFICATION"


def test_admins_configure_pipelines_on_the_settings_page(web, org, make_opportunity):
    client = web(Role.ADMIN)
    page = client.get("/settings/pipelines/")
    assert page.status_code == 200 and "Lead stage labels" in page.content.decode()
    assert web(Role.MANAGER).get("/settings/pipelines/").status_code == 403
    assert client.post("/settings/pipelines/add/", {"name": "Partners"}).status_code == 302
    with schema_context(org.schema_name):
        partners = Pipeline.objects.get(name="Partners")
    added = client.post(
        f"/settings/pipelines/{partners.pk}/stages/add/", {"name": "Intro", "probability": "20"}
    )
    assert added.status_code == 302
    with schema_context(org.schema_name):
        names = list(partners.stages.order_by("position").values_list("name", flat=True))
    assert names == ["Open", "Intro", "Won", "Lost"]  # a new open stage goes before the closed ones
    deal = make_opportunity(stage="DISCOVERY")
    discovery, proposal = _stage_id(org, "DISCOVERY"), _stage_id(org, "PROPOSAL")
    with schema_context(org.schema_name):
        sales_id = Pipeline.objects.get(is_default=True).pk
    url = f"/settings/pipelines/{sales_id}/stages/{discovery}/"
    renamed = client.post(url, {"op": "save", "name": "Demo", "probability": "30", "kind": "open"}, **FETCH)
    assert renamed.status_code == 200, renamed.content
    refused = client.post(url, {"op": "delete"}, **FETCH)
    assert refused.status_code == 409 and refused.json()["details"]["count"] == 1
    deleted = client.post(url, {"op": "delete", "move_to": proposal}, **FETCH)
    assert deleted.status_code == 200
    with schema_context(org.schema_name):
        assert Opportunity.objects.get(pk=deal.pk).pipeline_stage_id == proposal
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "pipeline.created",
        "pipeline.stage_created",
        "pipeline.stage_updated",
        "pipeline.stage_deleted",
    } <= actions
    labels = client.post("/settings/lead-stages/", {"label_NEW": "Inbox"}, **FETCH)
    assert labels.status_code == 200
    assert ">Inbox</h2>" in client.get("/pipeline/").content.decode()  # the lead board's column
