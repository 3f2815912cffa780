from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shared_apps.core.events import publish_on_commit
from shared_apps.organizations.jobs import enqueue_in_organization
from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity
from tenant_apps.activities.services import activity_log
from tenant_apps.automation.jobs import evaluate_time_triggers
from tenant_apps.automation.models import RuleRun, RunStatus
from tenant_apps.automation.services import time_triggers_evaluate
from tenant_apps.filtering import language
from tenant_apps.filtering.fields import FIELDS
from tenant_apps.filtering.language import RULES
from tenant_apps.leads import services as leads
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.tasks.models import Task
from tenant_apps.tasks.services import task_create, task_update

from .conftest import rule_entries

TAG = [{"type": "add_tag", "tag": "fired"}]


def tagged(lead):
    return "fired" in Lead.objects.get(pk=lead.pk).tags


def test_lead_created_fires_only_for_leads_meeting_the_conditions(
    in_org, admin, make_rule, committing, process
):
    rule = make_rule(
        {"type": "lead_created"},
        TAG,
        conditions=[
            {"field": "source", "op": "eq", "value": "ads"},
            {"field": "value", "op": "gt", "value": 10000},
        ],
    )
    with committing():
        big_ads = leads.lead_create(actor=admin, name="Big", source="ads", value="20000")
        small_ads = leads.lead_create(actor=admin, name="Small", source="ads", value="500")
        big_web = leads.lead_create(actor=admin, name="Web", source="web", value="20000")
    process()

    assert [tagged(lead) for lead in (big_ads, small_ads, big_web)] == [True, False, False]
    [entry] = rule_entries(big_ads)
    assert (entry["rule_id"], entry["rule_name"], entry["action"]) == (rule.pk, rule.name, "add_tag")
    # one run, for the lead the rule acted on
    assert list(RuleRun.objects.values_list("lead_id", "status")) == [(big_ads.pk, RunStatus.DONE)]


def test_match_any_needs_one_condition(in_org, admin, make_rule, committing, process):
    make_rule(
        {"type": "lead_created"},
        TAG,
        match="any",
        conditions=[
            {"field": "source", "op": "eq", "value": "ads"},
            {"field": "tags", "op": "contains", "value": "VIP"},
        ],
    )
    with committing():
        vip = leads.lead_create(actor=admin, name="V", source="web", tags=["vip"])
        plain = leads.lead_create(actor=admin, name="P", source="web")
    process()
    assert (tagged(vip), tagged(plain)) == (True, False)


def test_stage_entered_fires_on_that_stage_only(in_org, admin, make_rule, make_lead, committing, process):
    make_rule({"type": "stage_entered", "stage": "qualified"}, TAG)
    lead = make_lead()
    with committing():
        leads.lead_transition(lead_id=lead.pk, to_stage=Stage.CONTACTED, actor=admin)
    process()
    assert not tagged(lead)
    with committing():
        leads.lead_transition(lead_id=lead.pk, to_stage=Stage.QUALIFIED, actor=admin)
    process()
    assert tagged(lead)


def test_field_changed_from_and_to_values(in_org, admin, make_rule, make_lead, committing, process):
    make_rule({"type": "field_changed", "field": "source", "from": "web", "to": "ads"}, TAG)
    from_web, from_event = make_lead(source="web"), make_lead(source="event")
    with committing():
        leads.lead_update(lead_id=from_event.pk, actor=admin, changes={"source": "ads"})  # wrong "from"
        leads.lead_update(lead_id=from_web.pk, actor=admin, changes={"source": "referral"})  # wrong "to"
    process()
    assert (tagged(from_web), tagged(from_event)) == (False, False)
    with committing():
        leads.lead_update(lead_id=from_web.pk, actor=admin, changes={"source": "web"})
    process()
    with committing():
        leads.lead_update(lead_id=from_web.pk, actor=admin, changes={"source": "ads"})
    process()
    assert tagged(from_web)


def test_field_changed_on_numbers_owner_stage_and_tags(
    in_org, admin, member, make_rule, make_lead, committing, process
):
    rep = member(role=Role.REP)
    value_rule = make_rule({"type": "field_changed", "field": "value", "to": 5000}, TAG)
    owner_rule = make_rule({"type": "field_changed", "field": "owner", "to": rep.pk}, TAG)
    stage_rule = make_rule({"type": "field_changed", "field": "stage", "from": "NEW"}, TAG)
    tag_rule = make_rule({"type": "field_changed", "field": "tags", "to": "VIP"}, TAG)
    any_name_rule = make_rule({"type": "field_changed", "field": "name"}, TAG)
    lead = make_lead(value="100")
    with committing():
        leads.lead_update(lead_id=lead.pk, actor=admin, changes={"value": "5000.00"})  # 5000 == 5000.00
        leads.lead_update(lead_id=lead.pk, actor=admin, changes={"owner_id": rep.pk})
        leads.lead_transition(lead_id=lead.pk, to_stage=Stage.CONTACTED, actor=admin)
        leads.lead_transition(lead_id=lead.pk, to_stage=Stage.QUALIFIED, actor=admin)  # not from NEW
        leads.lead_update(lead_id=lead.pk, actor=admin, changes={"tags": ["other"]})
        leads.lead_update(lead_id=lead.pk, actor=admin, changes={"tags": ["other", "vip"]})
        leads.lead_update(lead_id=lead.pk, actor=admin, changes={"name": "Renamed"})
    process()
    fired = [entry["rule_id"] for entry in rule_entries(lead)]
    assert sorted(fired) == sorted(
        [value_rule.pk, owner_rule.pk, stage_rule.pk, tag_rule.pk, any_name_rule.pk]
    )


def test_inactive_and_deleted_rules_do_not_fire(in_org, admin, make_rule, committing, process):
    from tenant_apps.automation.services import rule_delete, rule_update

    paused = make_rule({"type": "lead_created"}, TAG)
    deleted = make_rule({"type": "lead_created"}, TAG)
    rule_update(rule_id=paused.pk, actor=admin, changes={"active": False})
    rule_delete(rule_id=deleted.pk, actor=admin)
    with committing():
        lead = leads.lead_create(actor=admin, name="Quiet")
    process()
    assert not tagged(lead)


def test_idle_rule_fires_once_per_idle_stretch(in_org, admin, make_rule, make_lead, committing, process):
    rule = make_rule(
        {"type": "idle", "days": 3}, TAG, conditions=[{"field": "stage", "op": "ne", "value": "LOST"}]
    )
    lead, lost = make_lead(), make_lead(stage=Stage.LOST)
    now = timezone.now()
    with committing():
        assert time_triggers_evaluate(now=now + timedelta(days=2)) == {"idle": 0, "task_overdue": 0}
        assert time_triggers_evaluate(now=now + timedelta(days=4)) == {"idle": 1, "task_overdue": 0}
        assert time_triggers_evaluate(now=now + timedelta(days=5)) == {"idle": 0, "task_overdue": 0}
    assert tagged(lead) and not tagged(lost)
    [run] = RuleRun.objects.filter(rule=rule)
    assert run.topic == "lead.idle" and run.event_key.startswith(f"idle:{lead.pk}:")

    # contacted again: a new stretch starts, and fires after its own 3 days
    with committing():
        activity_log(actor=admin, type="CALL", lead_id=lead.pk, subject="Checked in")
        assert time_triggers_evaluate(now=timezone.now() + timedelta(days=1)) == {
            "idle": 0,
            "task_overdue": 0,
        }
        assert time_triggers_evaluate(now=timezone.now() + timedelta(days=4)) == {
            "idle": 1,
            "task_overdue": 0,
        }
    assert RuleRun.objects.filter(rule=rule).count() == 2


def test_task_overdue_fires_once_per_due_time(in_org, admin, make_rule, make_lead, committing, process, org):
    rule = make_rule({"type": "task_overdue"}, [{"type": "notify", "recipient": "admins", "title": "Late!"}])
    lead = make_lead()
    due = timezone.now() + timedelta(hours=1)
    task = task_create(actor=admin, title="Call", due_at=due, lead_id=lead.pk)
    task_create(actor=admin, title="Undated", lead_id=lead.pk)
    with committing():
        enqueue_in_organization(org.schema_name, evaluate_time_triggers, due - timedelta(minutes=1))
    [job] = process()
    assert job.return_value() == {"idle": 0, "task_overdue": 0}

    with committing():
        assert time_triggers_evaluate(now=due + timedelta(minutes=1)) == {"idle": 0, "task_overdue": 1}
        assert time_triggers_evaluate(now=due + timedelta(minutes=2)) == {"idle": 0, "task_overdue": 0}
    [run] = RuleRun.objects.filter(rule=rule)
    assert (run.task_id, run.lead_id, run.topic) == (task.pk, lead.pk, "lead.task_overdue")

    # given a new due time, the task can be overdue again
    later = due + timedelta(days=1)
    task_update(task_id=task.pk, actor=admin, changes={"due_at": later})
    with committing():
        assert time_triggers_evaluate(now=later + timedelta(minutes=1)) == {"idle": 0, "task_overdue": 1}
    # done tasks are never overdue
    Task.objects.filter(pk=task.pk).update(status="done")
    with committing():
        assert time_triggers_evaluate(now=later + timedelta(days=9)) == {"idle": 0, "task_overdue": 0}


def clean_condition(condition, *, prefix):
    return language.clean_condition(condition, dialect=RULES, record_type="lead", prefix=prefix)


def condition_holds(condition, lead, *, now):
    return language.condition_holds(condition, lead, dialect=RULES, record_type="lead", now=now)


def condition_q(condition, *, now):
    return language.condition_q(condition, dialect=RULES, record_type="lead", now=now)


# ---- every operator: the Python check (events) and the query (periodic scans) agree ----------------------

LEADS = {
    "ads big": {
        "source": "ads",
        "value": "20000",
        "company": "Acme GmbH",
        "email": "a@acme.de",
        "tags": ["vip"],
    },
    "web small": {"source": "web", "value": "500", "company": "Initech", "email": "b@initech.com"},
    "referral none": {"source": "referral", "value": "0", "company": "", "email": ""},
}
CASES = [
    ({"field": "company", "op": "eq", "value": "acme gmbh"}, {"ads big"}),
    ({"field": "company", "op": "ne", "value": "ACME GMBH"}, {"web small", "referral none"}),
    ({"field": "company", "op": "in", "value": ["initech", "nobody"]}, {"web small"}),
    ({"field": "company", "op": "not_in", "value": ["initech"]}, {"ads big", "referral none"}),
    ({"field": "company", "op": "contains", "value": "CME"}, {"ads big"}),
    ({"field": "company", "op": "not_contains", "value": "cme"}, {"web small", "referral none"}),
    ({"field": "company", "op": "starts_with", "value": "ini"}, {"web small"}),
    ({"field": "email", "op": "ends_with", "value": "@acme.de"}, {"ads big"}),
    ({"field": "company", "op": "is_empty"}, {"referral none"}),
    ({"field": "email", "op": "is_not_empty"}, {"ads big", "web small"}),
    ({"field": "source", "op": "eq", "value": "ADS"}, {"ads big"}),
    ({"field": "source", "op": "ne", "value": "ads"}, {"web small", "referral none"}),
    ({"field": "source", "op": "in", "value": ["web", "referral"]}, {"web small", "referral none"}),
    ({"field": "source", "op": "not_in", "value": ["web"]}, {"ads big", "referral none"}),
    ({"field": "stage", "op": "eq", "value": "NEW"}, {"ads big", "web small", "referral none"}),
    ({"field": "value", "op": "eq", "value": "500.00"}, {"web small"}),
    ({"field": "value", "op": "ne", "value": 500}, {"ads big", "referral none"}),
    ({"field": "value", "op": "gt", "value": 10000}, {"ads big"}),
    ({"field": "value", "op": "gte", "value": 500}, {"ads big", "web small"}),
    ({"field": "value", "op": "lt", "value": 500}, {"referral none"}),
    ({"field": "value", "op": "lte", "value": 500.0}, {"web small", "referral none"}),
    ({"field": "value", "op": "between", "value": [100, 20000]}, {"ads big", "web small"}),
    ({"field": "score", "op": "eq", "value": 0}, {"ads big", "web small", "referral none"}),
    ({"field": "tags", "op": "contains", "value": "VIP"}, {"ads big"}),
    ({"field": "tags", "op": "not_contains", "value": "vip"}, {"web small", "referral none"}),
    ({"field": "tags", "op": "is_empty"}, {"web small", "referral none"}),
    ({"field": "tags", "op": "is_not_empty"}, {"ads big"}),
    ({"field": "owner", "op": "is_empty"}, {"web small", "referral none"}),
    ({"field": "owner", "op": "is_not_empty"}, {"ads big"}),
    ({"field": "created_at", "op": "older_than_days", "value": 1}, set()),
    ({"field": "created_at", "op": "newer_than_days", "value": 1}, {"ads big", "web small", "referral none"}),
    ({"field": "last_contacted_at", "op": "is_empty"}, {"web small", "referral none"}),
    ({"field": "last_contacted_at", "op": "newer_than_days", "value": 2}, {"ads big"}),
    # relative dates (tests/tenant_apps/filtering/test_language.py checks their boundaries)
    ({"field": "last_contacted_at", "op": "in_last_days", "value": 2}, {"ads big"}),
    ({"field": "last_contacted_at", "op": "in_next_days", "value": 2}, set()),
    ({"field": "created_at", "op": "in_period", "value": "today"}, {"ads big", "web small", "referral none"}),
    ({"field": "created_at", "op": "in_period", "value": "last_month"}, set()),
]


def test_every_operator_and_field_type_is_exercised():
    # owner eq/ne/in/not_in are checked with member ids below
    assert {op for ops in RULES.operators.values() for op in ops} == {case["op"] for case, _ in CASES}
    assert set(RULES.operators) == {FIELDS["lead"][case["field"]].type for case, _ in CASES}


def test_conditions_hold_for_the_right_leads_in_python_and_in_sql(in_org, admin, make_lead):
    made = {name: make_lead(name=name, **fields) for name, fields in LEADS.items()}
    leads.lead_update(lead_id=made["ads big"].pk, actor=admin, changes={"owner_id": admin.pk})
    activity_log(actor=admin, type="CALL", lead_id=made["ads big"].pk)
    now = timezone.now()
    stored = {lead.name: lead for lead in Lead.objects.filter(pk__in=[lead.pk for lead in made.values()])}
    ids = {lead.pk: lead.name for lead in stored.values()}
    for raw, expected in CASES:
        condition = clean_condition(raw, prefix="conditions[0]")
        in_python = {name for name, lead in stored.items() if condition_holds(condition, lead, now=now)}
        in_sql = {
            ids[pk]
            for pk in Lead.objects.filter(pk__in=ids)
            .filter(condition_q(condition, now=now))
            .values_list("pk", flat=True)
        }
        assert (in_python, in_sql) == (expected, expected), raw


def test_owner_operators(in_org, admin, member, make_lead):
    rep = member(role=Role.REP)
    mine, theirs, nobodys = make_lead(owner_id=admin.pk), make_lead(owner_id=rep.pk), make_lead()
    now = timezone.now()
    cases = [
        ({"field": "owner", "op": "eq", "value": rep.pk}, {theirs.pk}),
        ({"field": "owner", "op": "ne", "value": rep.pk}, {mine.pk, nobodys.pk}),
        ({"field": "owner", "op": "in", "value": [rep.pk, admin.pk]}, {mine.pk, theirs.pk}),
        ({"field": "owner", "op": "not_in", "value": [rep.pk]}, {mine.pk, nobodys.pk}),
    ]
    every = Lead.objects.filter(pk__in=[mine.pk, theirs.pk, nobodys.pk])
    for raw, expected in cases:
        condition = clean_condition(raw, prefix="c")
        assert {lead.pk for lead in every if condition_holds(condition, lead, now=now)} == expected, raw
        assert set(every.filter(condition_q(condition, now=now)).values_list("pk", flat=True)) == expected, (
            raw
        )


def test_numbers_are_compared_exactly():
    condition = clean_condition({"field": "value", "op": "gt", "value": "0.1"}, prefix="c")
    assert condition["value"] == "0.1"
    assert condition_holds(condition, Lead(value=Decimal("0.11")), now=timezone.now())
    assert not condition_holds(condition, Lead(value=Decimal("0.10")), now=timezone.now())


@pytest.mark.parametrize(
    ("condition", "key"),
    [
        ({"field": "password", "op": "eq", "value": "x"}, "field"),
        ({"field": "value", "op": "contains", "value": "1"}, "op"),
        ({"field": "value", "op": "gt", "value": "lots"}, "value"),
        ({"field": "value", "op": "gt", "value": 1e300}, "value"),
        ({"field": "value", "op": "gt", "value": True}, "value"),
        ({"field": "value", "op": "between", "value": [10, 1]}, "value"),
        ({"field": "score", "op": "eq", "value": 1.5}, "value"),
        ({"field": "source", "op": "eq", "value": "tv"}, "value"),
        ({"field": "owner", "op": "eq", "value": 424242}, "value"),
        ({"field": "tags", "op": "contains", "value": "x" * 51}, "value"),
        ({"field": "company", "op": "eq", "value": "nul\x00"}, "value"),
        ({"field": "company", "op": "in", "value": []}, "value"),
        ({"field": "company", "op": "is_empty", "value": "x"}, "value"),
        ({"field": "created_at", "op": "older_than_days", "value": -1}, "value"),
        ({"field": "created_at", "op": "is_empty"}, "op"),
        ({"field": "value", "op": "gt"}, "value"),
        ({"field": "value", "op": "gt", "value": 1, "extra": 1}, "extra"),
    ],
)
def test_bad_conditions_name_their_key(in_org, condition, key):
    from shared_apps.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as error:
        clean_condition(condition, prefix="conditions[3]")
    assert error.value.field == f"conditions[3].{key}"


def test_a_lead_that_breaks_a_periodic_rule_does_not_hold_back_the_others(
    in_org, make_rule, make_lead, monkeypatch
):
    from tenant_apps.automation import services

    make_rule({"type": "idle", "days": 1}, TAG)
    broken, fine = make_lead(), make_lead()
    real = services.rule_apply

    def flaky(*, rule, event, **kwargs):
        if event.lead_id == broken.pk:
            raise RuntimeError("boom")
        return real(rule=rule, event=event, **kwargs)

    monkeypatch.setattr(services, "rule_apply", flaky)
    assert time_triggers_evaluate(now=timezone.now() + timedelta(days=2)) == {"idle": 1, "task_overdue": 0}
    assert tagged(fine) and not tagged(broken)


def test_field_changed_takes_old_and_new_values_from_the_event(
    in_org, admin, make_rule, make_lead, committing, process
):
    """A lead.updated carries its change ({field: [old, new]}): automation does not read the timeline for it,
    so a change announced without any "updated" activity still fires a from/to rule."""
    make_rule({"type": "field_changed", "field": "source", "from": "web", "to": "ads"}, TAG)
    lead = make_lead(source="web")
    process()
    assert not Activity.objects.filter(lead=lead, metadata__event="updated").exists()
    with committing():
        publish_on_commit(
            "lead.updated",
            record_id=lead.pk,
            actor_id=admin.pk,
            owner_id=lead.owner_id,
            fields=["source"],
            changes={"source": ["web", "ads"]},
        )
    process()
    assert tagged(lead)


def test_queueing_a_lead_update_for_rules_reads_no_timeline(in_org, admin, make_rule, make_lead, process):
    make_rule({"type": "field_changed", "field": "source", "from": "web", "to": "ads"}, TAG)
    lead = make_lead(source="web")
    process()
    with CaptureQueriesContext(connection) as queries:
        leads.lead_update(lead_id=lead.pk, actor=admin, changes={"source": "ads"})
    reads = [
        q["sql"] for q in queries if q["sql"].startswith("SELECT") and '"activities_activity"' in q["sql"]
    ]
    assert reads == []


def test_conditions_are_checked_against_the_lead_as_the_event_left_it(
    in_org, admin, make_rule, committing, process
):
    make_rule({"type": "lead_created"}, TAG, conditions=[{"field": "value", "op": "gte", "value": 50000}])
    with committing():
        small = leads.lead_create(actor=admin, name="Small at first", value="1000")
    with committing():  # a moment later, before the creation's job ran
        leads.lead_update(lead_id=small.pk, actor=admin, changes={"value": "60000"})
    with committing():
        big = leads.lead_create(actor=admin, name="Big at first", value="60000")
    with committing():
        leads.lead_update(lead_id=big.pk, actor=admin, changes={"value": "1000"})
    process()

    assert [tagged(lead) for lead in (small, big)] == [False, True]


def test_snapshot_reads_back_as_the_record_for_every_condition_type(in_org, admin, make_lead):
    lead = make_lead(name="Jane", source="ads", value="20000.50", tags=["vip"], owner_id=admin.pk)
    lead = Lead.objects.get(pk=lead.pk)
    snapshot = language.record_snapshot(lead, record_type="lead")
    assert snapshot["value"] == "20000.50" and snapshot["tags"] == ["vip"]
    back = language.snapshot_record(snapshot, record_type="lead")
    now = timezone.now()
    for condition in (
        {"field": "value", "op": "between", "value": [20000, 20001]},
        {"field": "created_at", "op": "newer_than_days", "value": 1},
        {"field": "last_contacted_at", "op": "is_empty", "value": True},
        {"field": "tags", "op": "contains", "value": "vip"},
        {"field": "owner", "op": "eq", "value": admin.pk},
        {"field": "score", "op": "eq", "value": 0},
    ):
        cleaned = language.clean_conditions([condition], dialect=RULES, record_type="lead")
        args = {"match": "all", "dialect": RULES, "record_type": "lead", "now": now}
        assert language.conditions_hold(cleaned, back, **args) is True, condition
        assert language.conditions_hold(cleaned, lead, **args) is True, condition
