import itertools
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.core import events
from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.leads import services
from tenant_apps.leads.exceptions import TransitionNotAllowed
from tenant_apps.leads.models import TRANSITIONS, Lead, Stage
from tests.conftest import InThread, client_for
from tests.tenant_apps.conftest import PATHS


def stage_changes(org, lead_id):
    with schema_context(org.schema_name):
        return list(
            Activity.objects.filter(lead_id=lead_id, type=ActivityType.STAGE_CHANGE)
            .order_by("id")
            .values_list("metadata", flat=True)
        )


def test_transition_updates_the_stage_and_appends_its_activity(api, make_lead, org):
    lead = make_lead()
    client = api(Role.MANAGER)
    response = client.post(
        f"/api/leads/{lead.pk}/transition/", {"stage": "CONTACTED", "reason": "called"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["stage"], body["allowed_transitions"]) == ("CONTACTED", ["QUALIFIED", "LOST"])
    assert body["stage_changed_at"] > lead.stage_changed_at.isoformat().replace("+00:00", "Z")
    assert stage_changes(org, lead.pk) == [{"from": "NEW", "to": "CONTACTED", "reason": "called"}]
    with schema_context(org.schema_name):
        activity = Activity.objects.get(lead_id=lead.pk, type=ActivityType.STAGE_CHANGE)
        assert activity.actor.email == client.get("/api/me/").json()["email"]


@pytest.mark.parametrize("current", Stage.values)
@pytest.mark.parametrize("requested", Stage.values)
def test_only_the_explicit_transitions_are_allowed(make_lead, in_org, admin, current, requested):
    lead = make_lead(stage=current)
    before = len(Activity.objects.filter(lead=lead))
    if requested in TRANSITIONS[current]:
        assert services.lead_transition(lead_id=lead.pk, to_stage=requested, actor=admin).stage == requested
    else:
        with pytest.raises(TransitionNotAllowed) as refused:
            services.lead_transition(lead_id=lead.pk, to_stage=requested, actor=admin)
        assert refused.value.details == {
            "current": current,
            "requested": requested,
            "allowed": list(TRANSITIONS[current]),
        }
        assert Lead.objects.get(pk=lead.pk).stage == current
        assert len(Activity.objects.filter(lead=lead)) == before


def test_invalid_transition_is_409_naming_current_and_allowed(api, make_lead):
    lead = make_lead(stage=Stage.WON)
    response = api(Role.ADMIN).post(f"/api/leads/{lead.pk}/transition/", {"stage": "LOST"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "transition_not_allowed"
    assert response.json()["details"] == {"current": "WON", "requested": "LOST", "allowed": []}


def test_lost_lead_reopens_to_new(api, make_lead, org):
    lead = make_lead(stage=Stage.LOST)
    response = api(Role.ADMIN).post(f"/api/leads/{lead.pk}/transition/", {"stage": "NEW"}, format="json")
    assert response.json()["stage"] == "NEW"
    assert [change["to"] for change in stage_changes(org, lead.pk)] == ["LOST", "NEW"]


@pytest.mark.parametrize(
    "body", [{"stage": "DONE"}, {"stage": ""}, {}, {"stage": "NEW", "reason": "x" * 1001}]
)
def test_unknown_stage_is_400(api, make_lead, body):
    lead = make_lead()
    response = api(Role.ADMIN).post(f"/api/leads/{lead.pk}/transition/", body, format="json")
    assert response.status_code == 400


def test_transition_of_an_unknown_lead_is_404(api):
    assert (
        api(Role.ADMIN).post("/api/leads/424242/transition/", {"stage": "LOST"}, format="json").status_code
        == 404
    )


def test_patch_cannot_change_the_stage(api, make_lead, org):
    lead = make_lead()
    response = api(Role.ADMIN).patch(
        f"/api/leads/{lead.pk}/", {"stage": "WON", "name": "New name"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "use_transition"
    assert "transition" in response.json()["errors"]["stage"][0]
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=lead.pk).stage == "NEW"
        assert Lead.objects.get(pk=lead.pk).name == lead.name  # nothing half-applied


def test_transition_is_announced_after_commit_only(
    make_lead, in_org, admin, django_capture_on_commit_callbacks
):
    lead = make_lead()
    received = []
    unsubscribe = events.subscribe("lead.", received.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.lead_transition(lead_id=lead.pk, to_stage=Stage.CONTACTED, actor=admin)
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(TransitionNotAllowed):
            services.lead_transition(lead_id=lead.pk, to_stage=Stage.WON, actor=admin)
    finally:
        unsubscribe()
    assert [(event.topic, event.record_id, event.data, event.schema_name) for event in received] == [
        (
            "lead.stage_changed",
            lead.pk,
            {"from": "NEW", "to": "CONTACTED", "owner_id": lead.owner_id},
            in_org.schema_name,
        )
    ]


def test_a_failing_subscriber_does_not_break_the_change(
    make_lead, in_org, admin, django_capture_on_commit_callbacks
):
    lead = make_lead()

    def broken(event):
        raise RuntimeError("subscriber bug")

    unsubscribe = events.subscribe("", broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.lead_transition(lead_id=lead.pk, to_stage=Stage.LOST, actor=admin)
    finally:
        unsubscribe()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.LOST


@pytest.mark.django_db(transaction=False)
def test_concurrent_transitions_of_one_lead_serialize_into_a_valid_chain(org, admin, django_db_blocker):
    schema = org.schema_name

    def create():
        with schema_context(schema):
            return services.lead_create(actor=None, name="Race", allow_duplicate=True).pk

    def transition(lead_id, stage, barrier):
        barrier.wait()
        with schema_context(schema):
            return services.lead_transition(lead_id=lead_id, to_stage=stage, actor=None).stage

    def purge(lead_id):
        with schema_context(schema):
            Lead.objects.filter(pk=lead_id).update(deleted_at="2000-01-01T00:00:00Z")
            services.lead_purge(lead_id=lead_id, actor=admin)

    with django_db_blocker.unblock():
        lead_id = InThread(create).join()
        try:
            for attempt in range(3):
                # Everybody races for the same moves: exactly one of each wins, the rest get a 409.
                targets = (
                    [Stage.CONTACTED] * 3 + [Stage.LOST] * 3 if attempt == 0 else [Stage.NEW, Stage.LOST] * 3
                )
                barrier = threading.Barrier(len(targets))
                racers = [InThread(transition, lead_id, stage, barrier) for stage in targets]
                outcomes = [racer.settle() for racer in racers]
                assert all(
                    isinstance(outcome, TransitionNotAllowed) or not isinstance(outcome, BaseException)
                    for outcome in outcomes
                ), outcomes

            def chain():
                with schema_context(schema):
                    changes = list(
                        Activity.objects.filter(lead_id=lead_id, type=ActivityType.STAGE_CHANGE)
                        .order_by("id")
                        .values_list("metadata", flat=True)
                    )
                    return changes, Lead.objects.get(pk=lead_id).stage

            changes, final = InThread(chain).join()
            assert changes, "some transition must have won"
            assert changes[0]["from"] == "NEW"
            for before, after in itertools.pairwise(changes):
                assert after["from"] == before["to"]
                assert after["to"] in TRANSITIONS[before["to"]]
            assert changes[-1]["to"] == final
        finally:
            InThread(purge, lead_id).join()


def test_paths_fixture_is_valid():
    for stage, path in PATHS.items():
        current = Stage.NEW
        for step in path:
            assert step in TRANSITIONS[current]
            current = step
        assert current == stage


def test_transactional_subscribers_commit_or_roll_back_with_the_change(make_lead, in_org, admin):
    from django.db import transaction

    lead = make_lead()
    seen = []
    undo = events.subscribe_in_transaction("lead.stage_changed", seen.append)
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.lead_transition(lead_id=lead.pk, to_stage=Stage.CONTACTED, actor=admin)
            assert len(seen) == 1  # called inside the transaction, before any commit
            raise RuntimeError("roll back")
    finally:
        undo()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.NEW


def lead_reads(queries):
    return [query["sql"] for query in queries if 'FROM "leads_lead"' in query["sql"]]


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP])
def test_a_transition_request_reads_its_lead_once(make_lead, member, org, role):
    """The lead is read (and locked) once per transition: visibility, a rep's ownership, the move and the
    answer all use that read."""
    mover = member(role=role)
    lead = make_lead(owner_id=mover.pk)
    client = client_for(org, mover)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/api/leads/{lead.pk}/transition/", {"stage": "CONTACTED"}, format="json")
    assert response.status_code == 200
    assert response.json()["stage"] == "CONTACTED"
    [read] = lead_reads(queries)
    assert read.startswith("SELECT") and "FOR UPDATE" in read


@pytest.mark.parametrize(
    ("owned_by_admin", "status", "code"), [(True, 404, "lead_not_found"), (False, 403, "not_your_lead")]
)
def test_a_rep_moves_only_their_own_leads_with_the_one_read(
    make_lead, member, org, admin, owned_by_admin, status, code
):
    """A lead the rep cannot see is a 404; an unassigned one (seen, not theirs) a 403; neither moves."""
    lead = make_lead(owner_id=admin.pk if owned_by_admin else None)
    response = client_for(org, member(role=Role.REP)).post(
        f"/api/leads/{lead.pk}/transition/", {"stage": "CONTACTED"}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (status, code)
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=lead.pk).stage == Stage.NEW
