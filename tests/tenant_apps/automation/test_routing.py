import threading
from collections import Counter

import pytest
from django.db import transaction
from django_tenants.utils import schema_context

from shared_apps.users.models import Role, User
from tenant_apps.automation import routing
from tenant_apps.automation.jobs import evaluate_rules
from tenant_apps.automation.models import RoutingAssignment, RoutingState
from tenant_apps.leads import services as leads
from tenant_apps.leads.models import Lead
from tests.conftest import InThread, client_for


def create(admin, committing, process, count=1, **fields):
    made = []
    with committing():
        for index in range(count):
            made.append(
                leads.lead_create(
                    actor=admin,
                    name=f"{fields.get('name', 'Lead')} {index}",
                    allow_duplicate=True,
                    **{k: v for k, v in fields.items() if k != "name"},
                )
            )
    process()
    return [Lead.objects.get(pk=lead.pk) for lead in made]


def test_round_robin_in_order_skipping_inactive_members(in_org, admin, member, committing, process, org):
    a, b, c = (member(role=Role.REP) for _ in range(3))
    client = client_for(org, admin)
    response = client.post(
        "/api/routing/", {"strategy": "round_robin", "members": [a.pk, b.pk, c.pk]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "strategy": "round_robin",
        "members": [a.pk, b.pk, c.pk],
        "territories": [],
        "next_member": a.pk,
    }

    routed = create(admin, committing, process, count=5)
    assert [lead.owner_id for lead in routed] == [a.pk, b.pk, c.pk, a.pk, b.pk]
    assert client.get("/api/routing/").json()["next_member"] == c.pk

    User.objects.filter(pk=c.pk).update(is_active=False)
    assert [lead.owner_id for lead in create(admin, committing, process, count=2)] == [a.pk, b.pk]

    # a lead created with an owner keeps it, and takes no turn
    [owned] = create(admin, committing, process, owner_id=admin.pk)
    assert owned.owner_id == admin.pk and not RoutingAssignment.objects.filter(lead_id=owned.pk).exists()
    assert [lead.owner_id for lead in create(admin, committing, process)] == [a.pk]


def test_territories_first_then_round_robin(in_org, admin, member, committing, process, org):
    de, ads, emea, rest, gone = (member(role=Role.REP) for _ in range(5))
    client = client_for(org, admin)
    response = client.post(
        "/api/routing/",
        {
            "strategy": "territory",
            "members": [rest.pk],
            "territories": [
                {"kind": "country", "value": "DE", "member": de.pk},
                {"kind": "source", "value": "ads", "member": ads.pk},
                {"kind": "region", "value": "EMEA", "member": emea.pk},
                {"kind": "region", "value": "apac", "member": gone.pk},
            ],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["territories"][0] == {"kind": "country", "value": "de", "member": de.pk}
    User.objects.filter(pk=gone.pk).update(is_active=False)

    [german] = create(admin, committing, process, tags=["country:de"], source="ads")  # first match wins
    [from_ads] = create(admin, committing, process, source="ads")
    [emea_lead] = create(admin, committing, process, tags=["Region:EMEA"])
    [apac] = create(admin, committing, process, tags=["region:apac"])  # its member left: round-robin
    [other] = create(admin, committing, process, tags=["country:fr"])
    assert [lead.owner_id for lead in (german, from_ads, emea_lead, apac, other)] == [
        de.pk,
        ads.pk,
        emea.pk,
        rest.pk,
        rest.pk,
    ]
    assignment = RoutingAssignment.objects.get(lead_id=german.pk)
    assert (assignment.method, assignment.detail) == ("territory", {"kind": "country", "value": "de"})
    assert RoutingAssignment.objects.get(lead_id=other.pk).method == "round_robin"


def test_territories_without_members_leave_the_rest_unassigned(in_org, admin, member, committing, process):
    de = member(role=Role.REP)
    routing.routing_configure(
        actor=admin, strategy="territory", territories=[{"kind": "country", "value": "de", "member": de.pk}]
    )
    [lead] = create(admin, committing, process, tags=["country:fr"])
    assert lead.owner_id is None


def test_routing_is_once_per_lead(in_org, admin, member, committing, process, run_jobs):
    import django_rq

    a, b = member(role=Role.REP), member(role=Role.REP)
    routing.routing_configure(actor=admin, strategy="round_robin", members=[a.pk, b.pk])
    with committing():
        lead = leads.lead_create(actor=admin, name="Once")
    queue = django_rq.get_queue("default")
    args = queue.fetch_job(queue.job_ids[0]).args
    process()
    assert Lead.objects.get(pk=lead.pk).owner_id == a.pk
    # the owner is removed by hand, then the same job is delivered again: not routed again
    leads.lead_update(lead_id=lead.pk, actor=admin, changes={"owner_id": None})
    evaluate_rules(*args)
    assert Lead.objects.get(pk=lead.pk).owner_id is None
    assert RoutingState.objects.get().next_index == 1
    assert RoutingAssignment.objects.filter(lead_id=lead.pk).count() == 1


def test_routing_off_leaves_a_new_lead_to_its_creator(in_org, admin, member, committing, process):
    routing.routing_configure(actor=admin, strategy="round_robin", members=[member(role=Role.REP).pk])
    routing.routing_configure(actor=admin, strategy="off")
    rep = member(role=Role.REP)
    [lead] = create(rep, committing, process)
    assert lead.owner_id == rep.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"strategy": "random"}, "strategy"),
        ({"strategy": "round_robin"}, "members"),
        ({"strategy": "round_robin", "members": "1,2"}, "members"),
        ({"strategy": "round_robin", "members": [424242]}, "members[0]"),
        ({"strategy": "round_robin", "members": ["x"]}, "members[0]"),
        ({"strategy": "round_robin", "members": [True]}, "members[0]"),
        ({"strategy": "territory"}, "territories"),
        (
            {"strategy": "territory", "territories": [{"kind": "planet", "value": "mars", "member": 1}]},
            "territories[0].kind",
        ),
        (
            {"strategy": "territory", "territories": [{"kind": "source", "value": "tv", "member": 1}]},
            "territories[0].value",
        ),
        (
            {"strategy": "territory", "territories": [{"kind": "country", "value": "", "member": 1}]},
            "territories[0].value",
        ),
        (
            {"strategy": "territory", "territories": [{"kind": "country", "value": "x" * 60, "member": 1}]},
            "territories[0].value",
        ),
        (
            {"strategy": "territory", "territories": [{"kind": "country", "value": "de", "member": 424242}]},
            "territories[0].member",
        ),
        (
            {"strategy": "territory", "territories": [{"kind": "country", "value": "de", "owner": 1}]},
            "territories[0].owner",
        ),
        ({"strategy": "territory", "territories": ["de"]}, "territories[0]"),
        ({"strategy": "off", "weights": [1]}, "weights"),
    ],
)
def test_bad_routing_is_400_naming_the_field(api, body, field):
    response = api(Role.ADMIN).post("/api/routing/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()


def test_duplicate_members_are_refused(in_org, admin):
    from shared_apps.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as error:
        routing.routing_configure(actor=admin, strategy="round_robin", members=[admin.pk, admin.pk])
    assert error.value.field == "members"


def test_members_read_routing_managers_change_it(api, org, member):
    rep = member(role=Role.REP)
    client = client_for(org, rep)
    assert client.get("/api/routing/").json()["strategy"] == "off"
    assert (
        client.post(
            "/api/routing/", {"strategy": "round_robin", "members": [rep.pk]}, format="json"
        ).status_code
        == 403
    )
    assert (
        api(Role.MANAGER)
        .post("/api/routing/", {"strategy": "round_robin", "members": [rep.pk]}, format="json")
        .status_code
        == 200
    )


def test_each_organization_routes_with_its_own_settings(api, org, other_org, member, committing, process):
    acme_rep = member(role=Role.REP)
    globex_rep = member(role=Role.REP, organization=other_org)
    assert (
        api(Role.ADMIN)
        .post("/api/routing/", {"strategy": "round_robin", "members": [acme_rep.pk]}, format="json")
        .status_code
        == 200
    )
    globex = api(Role.ADMIN, organization=other_org)
    assert globex.get("/api/routing/").json()["strategy"] == "off"
    # acme's member id means nothing in globex
    if acme_rep.pk != globex_rep.pk:
        assert (
            globex.post(
                "/api/routing/", {"strategy": "round_robin", "members": [acme_rep.pk]}, format="json"
            ).status_code
            == 400
        )
    with schema_context(other_org.schema_name), committing():
        theirs = leads.lead_create(actor=None, name="Globex lead")
    with schema_context(other_org.schema_name):
        process()
        assert Lead.objects.get(pk=theirs.pk).owner_id is None


@pytest.mark.django_db(transaction=False)
def test_concurrent_turns_spread_evenly(org, django_db_blocker):
    """Racing creations each take the next member: the row lock on the routing state serializes them."""
    schema = org.schema_name

    def setup():
        with schema_context(schema):
            members = [User.objects.create_user(f"rr{i}@race.test", "x", role=Role.REP).pk for i in range(3)]
            RoutingState.objects.update_or_create(
                pk=1, defaults={"strategy": "round_robin", "members": members, "next_index": 0}
            )
            return members

    def take(barrier):
        barrier.wait()
        with schema_context(schema), transaction.atomic():
            return routing._next_in_turn()

    def cleanup(members):
        with schema_context(schema):
            RoutingState.objects.filter(pk=1).delete()
            User.objects.filter(pk__in=members).delete()

    with django_db_blocker.unblock():
        members = InThread(setup).join()
        try:
            barrier = threading.Barrier(9)
            racers = [InThread(take, barrier) for _ in range(9)]
            picks = [racer.settle() for racer in racers]
            assert Counter(picks) == {member: 3 for member in members}, picks
        finally:
            InThread(cleanup, members).join()
