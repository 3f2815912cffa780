import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.automation.models import Rule, RuleRun
from tenant_apps.leads import services as leads
from tenant_apps.leads.models import Lead

GOOD = {
    "name": "Hot ads leads",
    "trigger": {"type": "lead_created"},
    "conditions": [
        {"field": "source", "op": "eq", "value": "ads"},
        {"field": "value", "op": "gt", "value": 10000},
    ],
    "actions": [
        {"type": "add_tag", "tag": "hot"},
        {"type": "notify", "recipient": "owner", "title": "Hot lead"},
    ],
}


def test_create_read_update_delete_a_rule(api):
    client = api(Role.MANAGER)
    created = client.post("/api/rules/", GOOD, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["trigger"] == {"type": "lead_created"}
    assert body["conditions"][1] == {"field": "value", "op": "gt", "value": "10000"}
    assert body["actions"][1] == {
        "type": "notify",
        "recipient": "owner",
        "title": "Hot lead",
        "email": False,
    }
    assert (body["match"], body["active"]) == ("all", True)
    url = f"/api/rules/{body['id']}/"
    assert client.get(url).json()["name"] == "Hot ads leads"

    patched = client.patch(url, {"active": False, "trigger": {"type": "idle", "days": 7}}, format="json")
    assert patched.status_code == 200, patched.content
    assert (patched.json()["active"], patched.json()["trigger"], patched.json()["actions"]) == (
        False,
        {"type": "idle", "days": 7},
        body["actions"],
    )
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert client.get("/api/rules/").json()["results"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trigger": {"type": "lead_deleted"}}, "trigger.type"),
        ({"trigger": "lead_created"}, "trigger"),
        ({"trigger": {"type": "stage_entered", "stage": "DONE"}}, "trigger.stage"),
        ({"trigger": {"type": "stage_entered"}}, "trigger.stage"),
        ({"trigger": {"type": "idle", "days": 0}}, "trigger.days"),
        ({"trigger": {"type": "idle", "days": "7"}}, "trigger.days"),
        ({"trigger": {"type": "field_changed", "field": "deleted_at"}}, "trigger.field"),
        ({"trigger": {"type": "field_changed", "field": "value", "to": "lots"}}, "trigger.to"),
        ({"trigger": {"type": "lead_created", "when": "now"}}, "trigger.when"),
        ({"conditions": [{"field": "password", "op": "eq", "value": 1}]}, "conditions[0].field"),
        (
            {"conditions": [GOOD["conditions"][0], {"field": "value", "op": "like", "value": 1}]},
            "conditions[1].op",
        ),
        ({"conditions": [{"field": "value", "op": "gt", "value": "1e999"}]}, "conditions[0].value"),
        ({"conditions": {"field": "value"}}, "conditions"),
        ({"conditions": [GOOD["conditions"][0]] * 21}, "conditions"),
        ({"actions": [{"type": "delete_everything"}]}, "actions[0].type"),
        ({"actions": [{"type": "add_tag", "tag": "ok"}, {"type": "add_tag"}]}, "actions[1].tag"),
        ({"actions": []}, "actions"),
        ({"actions": "add_tag"}, "actions"),
        ({"actions": [{"type": "add_tag", "tag": "x"}] * 11}, "actions"),
        ({"match": "some"}, "match"),
        ({"name": "nul\x00name"}, "name"),
        ({"name": 42}, "name"),
        ({"name": ""}, "name"),
        ({"active": "yes"}, "active"),
        ({"priority": 1}, "priority"),
    ],
)
def test_bad_rules_are_400_naming_the_part(api, change, field):
    client = api(Role.ADMIN)
    response = client.post("/api/rules/", {**GOOD, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    # the same on update
    rule_id = client.post("/api/rules/", GOOD, format="json").json()["id"]
    response = client.patch(f"/api/rules/{rule_id}/", change, format="json")
    if field != "actions" or change["actions"] != []:
        assert response.status_code == 400, response.content


def test_malformed_json_is_400(api):
    response = api(Role.ADMIN).post("/api/rules/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_members_read_rules_admins_and_managers_write_them(api):
    rule_id = api(Role.ADMIN).post("/api/rules/", GOOD, format="json").json()["id"]
    for role in (Role.REP, Role.VIEWER):
        client = api(role)
        assert client.get("/api/rules/").status_code == 200
        assert client.get(f"/api/rules/{rule_id}/").status_code == 200
        assert client.post("/api/rules/", GOOD, format="json").status_code == 403
        assert client.patch(f"/api/rules/{rule_id}/", {"active": False}, format="json").status_code == 403
        assert client.delete(f"/api/rules/{rule_id}/").status_code == 403


def test_unknown_and_absurd_ids_are_404(api):
    client = api(Role.ADMIN)
    for rule_id in ("424242", "99999999999999999999999999"):
        assert client.get(f"/api/rules/{rule_id}/").status_code == 404
        assert client.patch(f"/api/rules/{rule_id}/", {"active": False}, format="json").status_code == 404
        assert client.get(f"/api/rules/{rule_id}/runs/").status_code == 404


def test_list_filters_and_costs_the_same_queries_whatever_the_page_size(api):
    client = api(Role.ADMIN)
    for index in range(6):
        trigger = {"type": "lead_created"} if index % 2 else {"type": "idle", "days": index + 1}
        client.post("/api/rules/", {**GOOD, "name": f"rule {index}", "trigger": trigger}, format="json")
    client.patch(
        f"/api/rules/{client.get('/api/rules/').json()['results'][0]['id']}/",
        {"active": False},
        format="json",
    )
    assert len(client.get("/api/rules/?trigger_type=idle").json()["results"]) == 3
    assert len(client.get("/api/rules/?active=false").json()["results"]) == 1
    assert client.get("/api/rules/?trigger_type=never").status_code == 400
    counts = []
    for size in (1, 6):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/rules/?page_size={size}")
        assert len(response.json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_runs_show_what_a_rule_did(api, org, admin, committing, process):
    client = api(Role.ADMIN)
    rule_id = client.post("/api/rules/", GOOD, format="json").json()["id"]
    with schema_context(org.schema_name), committing():
        hot = leads.lead_create(actor=admin, name="Hot", source="ads", value="50000")
        leads.lead_create(actor=admin, name="Cold", source="web")
    with schema_context(org.schema_name):
        process()
    runs = client.get(f"/api/rules/{rule_id}/runs/").json()["results"]
    assert [(run["lead"], run["status"], run["depth"], run["topic"]) for run in runs] == [
        (hot.pk, "done", 0, "lead.created")
    ]
    assert [result["type"] for result in runs[0]["results"]] == ["add_tag", "notify"]
    assert client.get(f"/api/rules/{rule_id}/runs/?status=failed").json()["results"] == []
    assert client.get(f"/api/rules/{rule_id}/runs/?status=bogus").status_code == 400


def test_organizations_never_see_or_fire_each_others_rules(api, org, other_org, admin, committing, process):
    acme, globex = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)
    ours = acme.post("/api/rules/", {**GOOD, "name": "acme rule", "conditions": []}, format="json").json()
    assert [rule["name"] for rule in acme.get("/api/rules/").json()["results"]] == ["acme rule"]
    assert globex.get("/api/rules/").json()["results"] == []
    assert globex.get(f"/api/rules/{ours['id']}/").status_code == 404
    globex.patch(f"/api/rules/{ours['id']}/", {"name": "hijacked"}, format="json")

    with schema_context(other_org.schema_name), committing():
        theirs = leads.lead_create(actor=None, name="Globex lead")
    with schema_context(other_org.schema_name):
        process()
        assert Lead.objects.get(pk=theirs.pk).tags == []
        assert not RuleRun.objects.exists()
    with schema_context(org.schema_name), committing():
        mine = leads.lead_create(actor=admin, name="Acme lead")
    with schema_context(org.schema_name):
        process()
        assert Lead.objects.get(pk=mine.pk).tags == ["hot"]
        assert Rule.objects.get(pk=ours["id"]).name == "acme rule"


def test_a_purged_lead_leaves_no_runs_score_or_routing_behind(
    in_org, admin, member, make_rule, committing, process
):
    from tenant_apps.automation import routing, scoring
    from tenant_apps.automation.models import LeadScore, RoutingAssignment

    rep = member(role=Role.REP)
    routing.routing_configure(actor=admin, strategy="round_robin", members=[rep.pk])
    scoring.scoring_rule_create(
        actor=admin,
        name="ads",
        kind="field",
        condition={"field": "source", "op": "eq", "value": "ads"},
        points=5,
    )
    make_rule({"type": "lead_created"}, [{"type": "add_tag", "tag": "x"}])
    with committing():
        lead = leads.lead_create(actor=admin, name="Doomed", source="ads")
    process()
    kept = leads.lead_create(actor=admin, name="Kept", source="ads")
    scoring.score_recompute(lead_id=kept.pk)
    assert RuleRun.objects.filter(lead_id=lead.pk).exists()
    assert (
        LeadScore.objects.filter(lead_id=lead.pk).exists()
        and RoutingAssignment.objects.filter(lead_id=lead.pk).exists()
    )

    leads.lead_delete(lead_id=lead.pk, actor=admin)
    leads.lead_purge(lead_id=lead.pk, actor=admin)
    assert not RuleRun.objects.filter(lead_id=lead.pk).exists()
    assert not LeadScore.objects.filter(lead_id=lead.pk).exists()
    assert not RoutingAssignment.objects.filter(lead_id=lead.pk).exists()
    assert LeadScore.objects.filter(lead_id=kept.pk).exists()
