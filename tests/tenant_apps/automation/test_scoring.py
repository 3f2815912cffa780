from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.activities.services import activity_log
from tenant_apps.automation import scoring
from tenant_apps.automation.models import LeadScore
from tenant_apps.leads import services as leads
from tenant_apps.leads.models import Lead
from tenant_apps.tasks.services import task_create
from tests.conftest import client_for


@pytest.fixture
def rules(in_org, admin):
    def make(**fields):
        return scoring.scoring_rule_create(actor=admin, **fields)

    return {
        "ads": make(
            name="From ads",
            kind="field",
            condition={"field": "source", "op": "eq", "value": "ads"},
            points=10,
        ),
        "big": make(
            name="Big deal",
            kind="field",
            condition={"field": "value", "op": "gte", "value": 10000},
            points=25,
        ),
        "no email": make(
            name="No email", kind="field", condition={"field": "email", "op": "is_empty"}, points=-5
        ),
        "calls": make(name="Calls", kind="activity_count", activity_type="CALL", points=3, max_points=9),
        "recent": make(name="Contacted this week", kind="recency", within_days=7, points=15),
    }


def ads_rule(admin, *, points):
    return scoring.scoring_rule_create(
        actor=admin,
        name="ads",
        kind="field",
        condition={"field": "source", "op": "eq", "value": "ads"},
        points=points,
    )


def breakdown(lead):
    return {entry["name"]: entry["points"] for entry in LeadScore.objects.get(lead_id=lead.pk).breakdown}


def test_score_is_the_sum_of_the_rules_with_its_breakdown(rules, admin, make_lead):
    lead = make_lead(source="ads", value="20000", email="jane@example.com")
    for _ in range(4):  # 4 calls x 3 points, capped at 9
        activity_log(actor=admin, type="CALL", lead_id=lead.pk)
    activity_log(
        actor=admin, type="MEETING", lead_id=lead.pk, occurred_at=timezone.now() - timedelta(days=30)
    )

    stored = scoring.score_recompute(lead_id=lead.pk)
    assert stored.score == 10 + 25 + 0 + 9 + 15
    assert breakdown(lead) == {
        "From ads": 10,
        "Big deal": 25,
        "No email": 0,
        "Calls": 9,
        "Contacted this week": 15,
    }
    entries = {entry["name"]: entry for entry in stored.breakdown}
    assert entries["Calls"]["count"] == 4 and entries["From ads"]["matched"] is True
    assert entries["Contacted this week"]["last_activity_at"] is not None
    assert Lead.objects.get(pk=lead.pk).score == 59

    # recomputing is not adding: the same score, and no new "updated" activity
    updates = Activity.objects.filter(lead=lead, type=ActivityType.SYSTEM, metadata__event="updated").count()
    assert scoring.score_recompute(lead_id=lead.pk).score == 59
    assert (
        Activity.objects.filter(lead=lead, type=ActivityType.SYSTEM, metadata__event="updated").count()
        == updates
    )


def test_time_windows(rules, admin, make_lead):
    lead = make_lead(email="a@b.co")
    activity_log(actor=admin, type="EMAIL", lead_id=lead.pk, occurred_at=timezone.now() - timedelta(days=6))
    assert scoring.score_recompute(lead_id=lead.pk).score == 15
    # two days later, the last contact is 8 days old: the hourly refresh takes the points away
    later = timezone.now() + timedelta(days=2)
    assert scoring.stale_scores_refresh(now=later) == 1
    assert Lead.objects.get(pk=lead.pk).score == 0
    assert scoring.stale_scores_refresh(now=later) == 0  # fresh now


def test_lead_and_activity_changes_rescore_the_lead(rules, admin, make_lead, committing, process):
    with committing():
        lead = leads.lead_create(actor=admin, name="Jane", email="jane@example.com")
    process()
    assert Lead.objects.get(pk=lead.pk).score == 0
    with committing():
        leads.lead_update(lead_id=lead.pk, actor=admin, changes={"source": "ads"})
    process()
    assert Lead.objects.get(pk=lead.pk).score == 10
    with committing():
        activity_log(actor=admin, type="CALL", lead_id=lead.pk)
    process()
    assert Lead.objects.get(pk=lead.pk).score == 10 + 3 + 15
    with committing():
        task_create(actor=admin, title="Not a contact", lead_id=lead.pk)  # TASK counts for nothing here
        leads.lead_update(lead_id=lead.pk, actor=admin, changes={"score": 1000})  # by hand: recomputed
    process()
    assert Lead.objects.get(pk=lead.pk).score == 28
    assert breakdown(lead)["Calls"] == 3


def test_changing_the_rules_rescores_every_lead(in_org, admin, make_lead, committing, process):
    ads, web = make_lead(source="ads"), make_lead(source="web")
    with committing():
        rule = ads_rule(admin, points=7)
    process("low")
    assert [Lead.objects.get(pk=lead.pk).score for lead in (ads, web)] == [7, 0]
    with committing():
        scoring.scoring_rule_update(scoring_rule_id=rule.pk, actor=admin, changes={"points": 3})
    process("low")
    assert Lead.objects.get(pk=ads.pk).score == 3
    with committing():
        scoring.scoring_rule_delete(scoring_rule_id=rule.pk, actor=admin)
    process("low")
    # without rules, scores stay as they were (members may set them by hand) and the breakdown goes
    assert Lead.objects.get(pk=ads.pk).score == 3 and not LeadScore.objects.exists()


def test_rescoring_goes_through_every_lead_in_batches(
    in_org, admin, make_lead, committing, process, monkeypatch
):
    monkeypatch.setattr(scoring, "RESCORE_BATCH", 2)
    made = [make_lead(source="ads") for _ in range(5)]
    with committing():
        ads_rule(admin, points=1)
    jobs = process("low")
    assert len([job for job in jobs if job.func_name.endswith("rescore_leads")]) == 3
    assert {Lead.objects.get(pk=lead.pk).score for lead in made} == {1}


def test_score_endpoint_shows_score_and_breakdown(rules, api, member, make_lead, org, other_org):
    lead = make_lead(source="ads")
    client = api(Role.VIEWER)
    before = client.get(f"/api/leads/{lead.pk}/score/").json()
    assert before == {"lead_id": lead.pk, "score": 0, "computed_at": None, "breakdown": []}
    scoring.score_recompute(lead_id=lead.pk)
    body = client.get(f"/api/leads/{lead.pk}/score/").json()
    assert body["score"] == 10 - 5
    assert [(entry["name"], entry["points"]) for entry in body["breakdown"]] == [
        ("From ads", 10),
        ("Big deal", 0),
        ("No email", -5),
        ("Calls", 0),
        ("Contacted this week", 0),
    ]
    assert client.get("/api/leads/424242/score/").status_code == 404
    # a rep sees the scores of the leads they see: their own and unassigned ones
    rep = member(role=Role.REP)
    someone_elses = make_lead(owner_id=member(role=Role.REP).pk)
    assert client_for(org, rep).get(f"/api/leads/{someone_elses.pk}/score/").status_code == 404
    assert client_for(org, rep).get(f"/api/leads/{lead.pk}/score/").status_code == 200
    # another organization's lead with the same id is another lead
    theirs = make_lead(organization=other_org, name="Globex lead")
    globex = api(Role.ADMIN, organization=other_org)
    response = globex.get(f"/api/leads/{theirs.pk}/score/").json()
    assert response["breakdown"] == [] and response["lead_id"] == theirs.pk


def test_scoring_rules_api(api, org):
    manager = api(Role.MANAGER)
    created = manager.post(
        "/api/scoring-rules/",
        {"name": "Calls", "kind": "activity_count", "activity_type": "CALL", "points": 2, "within_days": 30},
        format="json",
    )
    assert created.status_code == 201, created.content
    rule = created.json()
    assert (rule["activity_type"], rule["within_days"], rule["max_points"], rule["active"]) == (
        "CALL",
        30,
        None,
        True,
    )
    url = f"/api/scoring-rules/{rule['id']}/"
    patched = manager.patch(
        url,
        {"kind": "field", "condition": {"field": "tags", "op": "contains", "value": "vip"}},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    assert (patched.json()["kind"], patched.json()["activity_type"], patched.json()["within_days"]) == (
        "field",
        "",
        None,
    )
    assert [r["name"] for r in api(Role.REP).get("/api/scoring-rules/").json()["results"]] == ["Calls"]
    assert (
        api(Role.REP)
        .post("/api/scoring-rules/", {"name": "x", "kind": "field", "points": 1}, format="json")
        .status_code
        == 403
    )
    assert manager.delete(url).status_code == 204
    assert manager.get(url).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "magic", "points": 1}, "kind"),
        ({"name": "x", "kind": "field", "points": 1}, "condition"),
        (
            {
                "name": "x",
                "kind": "field",
                "points": 1,
                "condition": {"field": "ssn", "op": "eq", "value": 1},
            },
            "condition.field",
        ),
        (
            {
                "name": "x",
                "kind": "field",
                "points": 1,
                "condition": {"field": "value", "op": "gt", "value": "x"},
            },
            "condition.value",
        ),
        (
            {
                "name": "x",
                "kind": "field",
                "points": 1,
                "condition": {"field": "value", "op": "gt", "value": 1},
                "within_days": 3,
            },
            "within_days",
        ),
        ({"name": "x", "kind": "activity_count", "points": 1, "activity_type": "SYSTEM"}, "activity_type"),
        (
            {
                "name": "x",
                "kind": "activity_count",
                "points": 1,
                "condition": {"field": "value", "op": "gt", "value": 1},
            },
            "condition",
        ),
        ({"name": "x", "kind": "recency", "points": 1}, "within_days"),
        ({"name": "x", "kind": "recency", "points": 1, "within_days": 7, "max_points": 3}, "max_points"),
        ({"name": "x", "kind": "activity_count", "points": 10**6}, "points"),
        ({"name": "x", "kind": "activity_count", "points": 1.5}, "points"),
        ({"name": "", "kind": "activity_count", "points": 1}, "name"),
        ({"name": "x", "kind": "activity_count", "points": 1, "weight": 2}, "weight"),
    ],
)
def test_bad_scoring_rules_are_400_naming_the_field(api, body, field):
    response = api(Role.ADMIN).post("/api/scoring-rules/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()


def test_scores_are_per_organization(in_org, admin, make_lead, other_org):
    ads_rule(admin, points=5)
    theirs = make_lead(organization=other_org, source="ads")
    with schema_context(other_org.schema_name):
        assert scoring.score_recompute(lead_id=theirs.pk) is None  # globex has no scoring rules
        assert Lead.objects.get(pk=theirs.pk).score == 0
    client = client_for(other_org)
    assert client.get("/api/scoring-rules/").status_code in (401, 403)


def test_a_computed_score_is_not_a_timeline_event(rules, admin, make_lead):
    lead = make_lead(source="ads", email="jane@example.com")
    before = Activity.objects.filter(lead=lead).count()
    assert scoring.score_recompute(lead_id=lead.pk).score == 10
    assert Lead.objects.get(pk=lead.pk).score == 10
    assert Activity.objects.filter(lead=lead).count() == before


def test_bulk_rescoring_queues_its_work_behind_interactive_jobs(
    in_org, admin, make_lead, make_rule, committing, process
):
    import django_rq

    make_rule({"type": "field_changed", "field": "score"}, [{"type": "add_tag", "tag": "scored"}])
    make_rule({"type": "field_changed", "field": "source"}, [{"type": "add_tag", "tag": "moved"}])
    made = [make_lead(source="ads") for _ in range(3)]
    default = django_rq.get_queue("default")
    queued = default.count
    with committing():
        ads_rule(admin, points=5)
    jobs = process("low")

    # nothing waits on the interactive queue; the rules watching the score ran from the low one, and the
    # one watching another field was not even queued
    assert default.count == queued
    assert len([job for job in jobs if job.func_name.endswith("evaluate_rules")]) == 3
    assert [Lead.objects.get(pk=lead.pk).tags for lead in made] == [["scored"]] * 3
