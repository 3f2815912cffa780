from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity
from tenant_apps.leads.models import Lead, Stage
from tests.conftest import client_for


def names(response):
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def test_list_filters(api, make_lead, member, org):
    rep = member(role=Role.REP)
    client = client_for(org, rep)
    make_lead(name="mine-new", owner_id=rep.pk, source="ads", value="500.00", tags=["vip"])
    make_lead(name="mine-won", owner_id=rep.pk, stage=Stage.WON, value="20000.00")
    make_lead(name="nobodys", stage=Stage.CONTACTED, source="ads", tags=["vip", "q4"])

    assert names(client.get("/api/leads/?owner=me")) == ["mine-new", "mine-won"]
    assert names(client.get("/api/leads/?owner=none")) == ["nobodys"]
    assert names(client.get(f"/api/leads/?owner={rep.pk}&stage=WON")) == ["mine-won"]
    assert names(client.get("/api/leads/?stage=new,contacted")) == ["mine-new", "nobodys"]
    assert names(client.get("/api/leads/?source=ads")) == ["mine-new", "nobodys"]
    assert names(client.get("/api/leads/?tag=VIP")) == ["mine-new", "nobodys"]
    assert names(client.get("/api/leads/?value_min=1000")) == ["mine-won"]
    assert names(client.get("/api/leads/?value_max=1000")) == ["mine-new", "nobodys"]
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert names(client.get(f"/api/leads/?created_after={tomorrow}")) == []
    assert len(names(client.get(f"/api/leads/?created_before={tomorrow}"))) == 3


@pytest.mark.parametrize(
    "query",
    [
        "stage=DONE",
        "source=tv",
        "owner=someone",
        "value_min=abc",
        "created_after=last-week",
        "ordering=password",
        "cursor=bz1hYmM=",
        "owner=99999999999999999999999",
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(api, query):
    response = api(Role.ADMIN).get(f"/api/leads/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["errors"]


def test_cursor_pagination_walks_every_lead_once_in_order(api, make_lead):
    for index in range(7):
        make_lead(name=f"lead {index}", value=str(index * 10))
    client = api(Role.ADMIN)
    seen, url = [], "/api/leads/?page_size=3&ordering=-value"
    while url:
        page = client.get(url).json()
        seen += [row["name"] for row in page["results"]]
        url = page["next"]
    assert seen == [f"lead {index}" for index in reversed(range(7))]


def test_page_size_is_capped(api, make_lead):
    response = api(Role.ADMIN).get("/api/leads/?page_size=100000")
    assert response.status_code == 200


def test_list_costs_the_same_queries_whatever_the_page_size(api, make_lead, member):
    owners = [member(role=Role.REP) for _ in range(5)]
    for index in range(30):
        make_lead(owner_id=owners[index % 5].pk)
    client = api(Role.ADMIN)
    client.get("/api/leads/?page_size=1")  # warm routing cache and token last_used_at

    counts = []
    for size in (2, 30):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/leads/?page_size={size}")
        assert len(response.json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 3, counts


def test_soft_delete_hides_restore_brings_back(api, make_lead, org):
    lead = make_lead(name="ghost")
    client = api(Role.MANAGER)
    assert client.delete(f"/api/leads/{lead.pk}/").status_code == 204
    assert client.get(f"/api/leads/{lead.pk}/").status_code == 404
    assert "ghost" not in names(client.get("/api/leads/"))
    assert client.delete(f"/api/leads/{lead.pk}/").status_code == 404
    assert (
        client.post(f"/api/leads/{lead.pk}/transition/", {"stage": "LOST"}, format="json").status_code == 404
    )

    restored = client.post(f"/api/leads/{lead.pk}/restore/")
    assert (restored.status_code, restored.json()["deleted_at"]) == (200, None)
    assert "ghost" in names(client.get("/api/leads/"))
    assert client.post(f"/api/leads/{lead.pk}/restore/").json()["code"] == "lead_not_deleted"


def test_purge_is_for_admins_on_deleted_leads_and_takes_the_timeline(api, make_lead, org):
    lead = make_lead(stage=Stage.CONTACTED)
    admin, manager = api(Role.ADMIN), api(Role.MANAGER)
    assert admin.post(f"/api/leads/{lead.pk}/purge/").status_code == 409  # not deleted yet
    admin.delete(f"/api/leads/{lead.pk}/")
    assert manager.post(f"/api/leads/{lead.pk}/purge/").status_code == 403
    assert admin.post(f"/api/leads/{lead.pk}/purge/").status_code == 204
    with schema_context(org.schema_name):
        assert not Lead.objects.filter(pk=lead.pk).exists()
        assert not Activity.objects.filter(lead_id=lead.pk).exists()
    assert admin.post(f"/api/leads/{lead.pk}/restore/").status_code == 404


def test_unknown_and_absurd_ids_are_404(api):
    client = api(Role.ADMIN)
    for lead_id in ("0", "424242", "99999999999999999999999999"):
        assert client.get(f"/api/leads/{lead_id}/").status_code == 404
        assert (
            client.post(f"/api/leads/{lead_id}/transition/", {"stage": "LOST"}, format="json").status_code
            == 404
        )


def test_organizations_never_see_each_others_leads(api, make_lead, org, other_org):
    ours = make_lead(name="acme secret")
    theirs = make_lead(name="globex secret", organization=other_org)
    acme, globex = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)

    assert names(acme.get("/api/leads/")) == ["acme secret"]
    assert names(globex.get("/api/leads/")) == ["globex secret"]
    # Ids are per schema and may coincide: whatever the id, each host resolves it in its own schema.
    assert acme.get(f"/api/leads/{theirs.pk}/").json().get("name") != "globex secret"
    assert globex.get(f"/api/leads/{ours.pk}/").json().get("name") != "acme secret"
    globex.patch(f"/api/leads/{ours.pk}/", {"name": "hijacked"}, format="json")
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=ours.pk).name == "acme secret"


def test_lead_endpoints_require_a_member(org, make_lead):
    lead = make_lead()
    anonymous = client_for(org)
    for method, url in [
        ("get", "/api/leads/"),
        ("post", "/api/leads/"),
        ("get", f"/api/leads/{lead.pk}/"),
        ("post", f"/api/leads/{lead.pk}/transition/"),
        ("get", f"/api/leads/{lead.pk}/activities/"),
    ]:
        assert getattr(anonymous, method)(url).status_code == 401


def test_stale_if_match_is_412_and_nothing_is_overwritten(api, make_lead, org):
    lead = make_lead(name="Original")
    alice, bob = api(Role.MANAGER), api(Role.MANAGER)
    etag = alice.get(f"/api/leads/{lead.pk}/")["ETag"]
    assert bob.get(f"/api/leads/{lead.pk}/")["ETag"] == etag

    first = alice.patch(f"/api/leads/{lead.pk}/", {"name": "Alice's"}, format="json", HTTP_IF_MATCH=etag)
    assert first.status_code == 200 and first["ETag"] != etag
    second = bob.patch(f"/api/leads/{lead.pk}/", {"name": "Bob's"}, format="json", HTTP_IF_MATCH=etag)
    assert (second.status_code, second.json()["code"]) == (412, "precondition_failed")
    assert second.json()["details"]["current_etag"] == first["ETag"]
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=lead.pk).name == "Alice's"
    assert (
        bob.patch(
            f"/api/leads/{lead.pk}/", {"name": "Bob's"}, format="json", HTTP_IF_MATCH=first["ETag"]
        ).status_code
        == 200
    )
