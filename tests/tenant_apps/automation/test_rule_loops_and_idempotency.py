import django_rq
from django.db import connection

from shared_apps.users.models import Role, User
from tenant_apps.activities.services import activity_log
from tenant_apps.automation import scoring
from tenant_apps.automation.jobs import evaluate_rules
from tenant_apps.automation.models import RuleRun, RunStatus
from tenant_apps.automation.services import MAX_DEPTH
from tenant_apps.leads import services as leads
from tenant_apps.leads.models import Lead
from tenant_apps.notifications.models import Notification
from tenant_apps.tasks.models import Task

from .conftest import rule_entries


def test_rules_that_trigger_each_other_stop_at_the_depth_limit(
    in_org, admin, member, make_rule, make_lead, committing, process
):
    """ads -> web -> ads -> ... : each rule's action is the other's trigger."""
    other_admin = member(role=Role.ADMIN)
    to_web = make_rule(
        {"type": "field_changed", "field": "source", "to": "ads"},
        [{"type": "set_field", "field": "source", "value": "web"}],
        name="ads to web",
    )
    to_ads = make_rule(
        {"type": "field_changed", "field": "source", "to": "web"},
        [{"type": "set_field", "field": "source", "value": "ads"}],
        name="web to ads",
    )
    lead = make_lead(source="other")
    with committing():
        leads.lead_update(lead_id=lead.pk, actor=admin, changes={"source": "ads"})
    jobs = process()

    runs = list(
        RuleRun.objects.filter(lead_id=lead.pk).order_by("depth").values_list("rule_id", "depth", "status")
    )
    assert runs == [
        (to_web.pk, 0, RunStatus.DONE),
        (to_ads.pk, 1, RunStatus.DONE),
        (to_web.pk, 2, RunStatus.DONE),
        (to_ads.pk, MAX_DEPTH, RunStatus.LOOP_STOPPED),
    ]
    assert len(jobs) == 4  # and nothing after the stop
    assert Lead.objects.get(pk=lead.pk).source == "web"
    # reported: once to every admin
    stops = Notification.objects.filter(kind="automation.loop_stopped")
    admins = set(User.objects.filter(role=Role.ADMIN, is_active=True).values_list("pk", flat=True))
    assert {n.recipient_id for n in stops} == admins and other_admin.pk in admins
    assert stops.count() == len(admins)
    assert stops.first().data["rule_id"] == to_ads.pk

    # the same loop again: stopped again, but the admins are not told twice about the same rule
    with committing():
        leads.lead_update(lead_id=lead.pk, actor=admin, changes={"source": "ads"})
    process()
    assert RuleRun.objects.filter(lead_id=lead.pk, status=RunStatus.LOOP_STOPPED).count() == 2
    assert Notification.objects.filter(kind="automation.loop_stopped").count() == len(admins)


def test_a_rule_retriggering_itself_through_the_score_stops(
    in_org, admin, make_rule, make_lead, committing, process
):
    """Every task adds to the score; every score change creates a task: without a limit, forever."""
    scoring.scoring_rule_create(
        actor=admin, name="tasks", kind="activity_count", activity_type="TASK", points=5
    )
    rule = make_rule({"type": "field_changed", "field": "score"}, [{"type": "create_task", "title": "More!"}])
    lead = make_lead()
    with committing():
        activity_log(actor=admin, type="TASK", lead_id=lead.pk, subject="by hand")
    process()
    statuses = list(RuleRun.objects.filter(rule=rule).order_by("depth").values_list("depth", "status"))
    assert statuses == [(0, "done"), (1, "done"), (2, "done"), (MAX_DEPTH, "loop_stopped")]
    assert Task.objects.filter(lead=lead).count() == MAX_DEPTH
    assert Lead.objects.get(pk=lead.pk).score == 5 * (1 + MAX_DEPTH)


def test_a_job_delivered_twice_acts_once(in_org, admin, make_rule, committing, process, run_jobs, org):
    rule = make_rule(
        {"type": "lead_created"},
        [
            {"type": "create_task", "title": "Once"},
            {"type": "notify", "recipient": "admins", "title": "Once"},
        ],
    )
    with committing():
        lead = leads.lead_create(actor=admin, name="Twice")
    queue = django_rq.get_queue("default")
    [job_id] = queue.job_ids
    args = queue.fetch_job(job_id).args
    assert args[0] == "lead.created"
    # rq redelivers the same job (same arguments, same event key) after a worker died
    with committing():
        queue.enqueue(evaluate_rules, *args)
    process()

    assert Task.objects.filter(lead=lead).count() == 1
    assert RuleRun.objects.filter(rule=rule).count() == 1
    assert len(rule_entries(lead)) == 2
    assert Notification.objects.filter(title="Once").count() == User.objects.filter(role=Role.ADMIN).count()

    # and run directly again, in the same process: still once
    evaluate_rules(*args)
    assert Task.objects.filter(lead=lead).count() == 1
    assert connection.schema_name == org.schema_name


def test_a_new_event_is_a_new_run(in_org, admin, make_rule, make_lead, committing, process):
    rule = make_rule(
        {"type": "field_changed", "field": "name"}, [{"type": "create_task", "title": "Renamed"}]
    )
    lead = make_lead()
    for name in ("First", "Second"):
        with committing():
            leads.lead_update(lead_id=lead.pk, actor=admin, changes={"name": name})
        process()
    assert RuleRun.objects.filter(rule=rule).count() == 2
    assert Task.objects.filter(lead=lead).count() == 2


def test_rolled_back_changes_start_nothing(in_org, admin, make_rule, committing, run_jobs):
    from django.db import transaction

    make_rule({"type": "lead_created"}, [{"type": "add_tag", "tag": "x"}])
    with committing():
        try:
            with transaction.atomic():
                leads.lead_create(actor=admin, name="Ghost")
                raise RuntimeError("changed my mind")
        except RuntimeError:
            pass
    assert run_jobs() == []


def test_a_failing_hook_never_undoes_the_change(in_org, admin, committing, monkeypatch):
    from tenant_apps.automation import hooks

    def broken():
        raise ConnectionError("redis is down")

    monkeypatch.setattr(hooks, "automation_summary", broken)
    with committing():
        lead = leads.lead_create(actor=admin, name="Still saved")
        leads.lead_update(lead_id=lead.pk, actor=admin, changes={"name": "Still saved, renamed"})
    assert Lead.objects.get(pk=lead.pk).name == "Still saved, renamed"
