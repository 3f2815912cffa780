from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from shared_apps.core import events
from shared_apps.users.models import Role, User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.automation.models import RuleRun, RunStatus
from tenant_apps.leads import services as leads
from tenant_apps.leads.models import Lead
from tenant_apps.notifications.models import Notification
from tenant_apps.tasks.models import Task

from .conftest import rule_entries


def created_lead(admin, committing, process, **fields):
    fields.setdefault("name", "Jane Doe")
    with committing():
        lead = leads.lead_create(actor=admin, allow_duplicate=True, **fields)
    process()
    return Lead.objects.get(pk=lead.pk)


def test_create_task_for_the_owner_due_in_days(in_org, admin, member, make_rule, committing, process):
    rep = member(role=Role.REP)
    rule = make_rule(
        {"type": "lead_created"},
        [
            {"type": "create_task", "title": "Call within 2 days", "due_in_days": 2},
            {"type": "create_task", "title": "Unassigned", "assignee": None, "description": "later"},
            {"type": "create_task", "title": "For the admin", "assignee": admin.pk},
        ],
    )
    before = timezone.now()
    lead = created_lead(admin, committing, process, owner_id=rep.pk)

    first, second, third = Task.objects.filter(lead=lead).order_by("id")
    assert (first.title, first.assignee_id, first.created_by_id) == ("Call within 2 days", rep.pk, None)
    assert before + timedelta(days=2) <= first.due_at <= timezone.now() + timedelta(days=2)
    assert (second.assignee_id, second.due_at, second.description) == (None, None, "later")
    assert third.assignee_id == admin.pk
    entries = rule_entries(lead)
    assert [(e["action"], e["task_id"], e["rule_name"]) for e in entries] == [
        ("create_task", task.pk, rule.name) for task in (first, second, third)
    ]
    subjects = Activity.objects.filter(lead=lead, metadata__event="rule_action").values_list(
        "subject", flat=True
    )
    assert all(subject.startswith(f'Rule "{rule.name}": created task') for subject in subjects)


def test_assign_owner_add_remove_tag_and_set_field(in_org, admin, member, make_rule, committing, process):
    rep = member(role=Role.REP)
    make_rule(
        {"type": "lead_created"},
        [
            {"type": "assign_owner", "member": rep.pk},
            {"type": "add_tag", "tag": " Hot  Lead "},
            {"type": "remove_tag", "tag": "cold"},
            {"type": "set_field", "field": "value", "value": "15000.50"},
            {"type": "set_field", "field": "source", "value": "ADS"},
            {"type": "set_field", "field": "company", "value": "Acme"},
        ],
    )
    lead = created_lead(admin, committing, process, tags=["cold", "q4"])

    assert lead.owner_id == rep.pk
    assert lead.tags == ["q4", "hot lead"]
    assert (lead.value, lead.source, lead.company) == (Decimal("15000.50"), "ads", "Acme")
    assert [e["action"] for e in rule_entries(lead)] == [
        "assign_owner",
        "add_tag",
        "remove_tag",
        "set_field",
        "set_field",
        "set_field",
    ]
    # the changes themselves went through lead_update: OWNER_CHANGE written by it, with no actor
    owner_change = Activity.objects.get(lead=lead, type=ActivityType.OWNER_CHANGE)
    assert (owner_change.metadata["to"], owner_change.actor_id) == (rep.pk, None)


def test_an_action_that_changes_nothing_says_so(in_org, admin, make_rule, committing, process):
    make_rule({"type": "lead_created"}, [{"type": "add_tag", "tag": "vip"}])
    lead = created_lead(admin, committing, process, tags=["vip"])
    [entry] = rule_entries(lead)
    assert entry["outcome"] == "no_change"


def test_notify_owner_admins_or_a_member_once_per_event(
    in_org, admin, member, make_rule, committing, process
):
    rep, other_admin = member(role=Role.REP), member(role=Role.ADMIN)
    make_rule(
        {"type": "lead_created"},
        [
            {"type": "notify", "recipient": "owner", "title": "New lead for you", "email": True},
            {"type": "notify", "recipient": "admins", "title": "FYI", "body": "A lead came in"},
            {"type": "notify", "recipient": rep.pk, "title": "Direct"},
        ],
    )
    lead = created_lead(admin, committing, process, owner_id=rep.pk)
    received = sorted(Notification.objects.values_list("recipient_id", "title"))
    admins = sorted(User.objects.filter(role=Role.ADMIN, is_active=True).values_list("pk", flat=True))
    assert received == sorted(
        [(rep.pk, "New lead for you"), (rep.pk, "Direct"), *[(a, "FYI") for a in admins]]
    )
    assert other_admin.pk in admins
    assert [message.subject for message in mail.outbox] == ["[LeadPulse] New lead for you"]
    assert Notification.objects.filter(title="FYI").first().data == {
        "rule_id": lead_rule_id(lead),
        "lead_id": lead.pk,
    }

    # an unowned lead: the "owner" notification has nobody to go to, and says so on the timeline
    unowned = created_lead(admin, committing, process, name="Nobody's")
    assert rule_entries(unowned)[0]["outcome"] == "no_recipient"


def lead_rule_id(lead):
    return rule_entries(lead)[0]["rule_id"]


def test_send_webhook_publishes_rule_webhook_after_commit(in_org, admin, make_rule, committing, process):
    rule = make_rule({"type": "lead_created"}, [{"type": "send_webhook", "payload": {"campaign": "spring"}}])
    seen = []
    undo = events.subscribe("rule.webhook", seen.append)
    try:
        lead = created_lead(admin, committing, process, source="ads")
    finally:
        undo()
    [event] = seen
    assert (event.topic, event.record_id) == ("rule.webhook", lead.pk)
    assert event.data["rule_id"] == rule.pk
    payload = event.data["payload"]
    assert payload["data"] == {"campaign": "spring"}
    assert payload["trigger"] == "lead.created"
    assert (payload["lead"]["id"], payload["lead"]["source"]) == (lead.pk, "ads")
    assert rule_entries(lead)[0]["action"] == "send_webhook"


def test_enroll_in_sequence(in_org, admin, make_rule, committing, process):
    from tenant_apps.sequences.models import Enrollment
    from tenant_apps.sequences.services import sequence_create

    sequence = sequence_create(actor=admin, name="Welcome", steps=[{"subject": "Hi", "body": "Hello"}])
    rule = make_rule({"type": "lead_created"}, [{"type": "enroll_in_sequence", "sequence": sequence.pk}])
    lead = created_lead(admin, committing, process, email="jane@example.com")
    [enrollment] = Enrollment.objects.filter(lead=lead)
    assert enrollment.sequence_id == sequence.pk
    [entry] = rule_entries(lead)
    assert (entry["action"], entry["enrollment_id"], entry["rule_id"]) == (
        "enroll_in_sequence",
        enrollment.pk,
        rule.pk,
    )

    # the sequence refuses a lead without an email: the run fails and says why
    no_email = created_lead(admin, committing, process, name="No email")
    run = RuleRun.objects.get(rule=rule, lead_id=no_email.pk)
    assert run.status == RunStatus.FAILED and "email" in run.error


def test_enroll_in_sequence_calls_the_sequences_service(
    in_org, admin, make_rule, committing, process, monkeypatch
):
    """The contract with the sequences app, independent of its rules: sequence_enroll(sequence_id=,
    lead_id=, actor=None)."""
    import tenant_apps.sequences.services as sequences
    from tenant_apps.sequences.services import sequence_create

    sequence = sequence_create(actor=admin, name="Welcome", steps=[{"subject": "Hi", "body": "Hello"}])
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return Lead(pk=424242)  # anything with a pk

    monkeypatch.setattr(sequences, "sequence_enroll", fake)
    make_rule({"type": "lead_created"}, [{"type": "enroll_in_sequence", "sequence": sequence.pk}])
    lead = created_lead(admin, committing, process)
    assert calls == [{"sequence_id": sequence.pk, "lead_id": lead.pk, "actor": None}]


def test_a_refused_action_undoes_the_whole_run_and_records_why(
    in_org, admin, member, make_rule, committing, process
):
    rep = member(role=Role.REP)
    rule = make_rule(
        {"type": "lead_created"},
        [
            {"type": "add_tag", "tag": "routed"},
            {"type": "create_task", "title": "Welcome call"},
            {"type": "assign_owner", "member": rep.pk},
        ],
    )
    User.objects.filter(pk=rep.pk).update(is_active=False)  # left the company after the rule was saved
    lead = created_lead(admin, committing, process)

    run = RuleRun.objects.get(rule=rule, lead_id=lead.pk)
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("actions[2] (assign_owner):") and "active member" in run.error
    assert run.results == []
    assert (lead.tags, lead.owner_id, Task.objects.filter(lead=lead).count()) == ([], None, 0)
    assert rule_entries(lead) == []
    failed = Activity.objects.get(lead=lead, metadata__event="rule_failed")
    assert failed.metadata["rule_id"] == rule.pk and rule.name in failed.subject


@pytest.mark.parametrize(
    ("action", "key"),
    [
        ({"type": "explode"}, "type"),
        ({"tag": "x"}, "type"),
        ({"type": "create_task"}, "title"),
        ({"type": "create_task", "title": "x", "due_in_days": -1}, "due_in_days"),
        ({"type": "create_task", "title": "x", "assignee": "boss"}, "assignee"),
        ({"type": "create_task", "title": "x", "when": "soon"}, "when"),
        ({"type": "assign_owner", "member": 424242}, "member"),
        ({"type": "assign_owner", "member": "7"}, "member"),
        ({"type": "add_tag", "tag": ""}, "tag"),
        ({"type": "set_field", "field": "stage", "value": "WON"}, "field"),
        ({"type": "set_field", "field": "value", "value": -1}, "value"),
        ({"type": "set_field", "field": "value", "value": "1.234"}, "value"),
        ({"type": "set_field", "field": "email", "value": "not-an-email"}, "value"),
        ({"type": "set_field", "field": "currency", "value": "XXX"}, "value"),
        ({"type": "set_field", "field": "score", "value": 10**9}, "value"),
        ({"type": "enroll_in_sequence", "sequence": 424242}, "sequence"),
        ({"type": "send_webhook", "payload": "hello"}, "payload"),
        ({"type": "send_webhook", "payload": {"x": "\x00"}}, "payload"),
        ({"type": "notify", "recipient": "everyone", "title": "x"}, "recipient"),
        ({"type": "notify", "recipient": "owner"}, "title"),
        ({"type": "notify", "recipient": "owner", "title": "x", "email": "yes"}, "email"),
    ],
)
def test_bad_actions_name_their_index_and_key(in_org, admin, make_rule, action, key):
    from shared_apps.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as error:
        make_rule({"type": "lead_created"}, [{"type": "add_tag", "tag": "ok"}, action])
    assert error.value.field == f"actions[1].{key}"
    assert error.value.details["index"] == 1
