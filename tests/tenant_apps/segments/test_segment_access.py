from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.segments.models import Segment
from tests.conftest import client_for

STAGE_NEW = {"conditions": [{"field": "stage", "op": "eq", "value": "NEW"}]}


def create(client, name, shared=False, record_type="lead", definition=STAGE_NEW):
    response = client.post(
        "/api/segments/",
        {"name": name, "record_type": record_type, "definition": definition, "shared": shared},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def names(response):
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def test_private_segments_are_invisible_to_everyone_else(member, org):
    owner, rep, admin = member(role=Role.REP), member(role=Role.REP), member(role=Role.ADMIN)
    mine, theirs, boss = client_for(org, owner), client_for(org, rep), client_for(org, admin)
    private = create(mine, "private")
    create(mine, "shared", shared=True)
    create(theirs, "rep's own")

    assert names(mine.get("/api/segments/")) == ["private", "shared"]
    assert names(theirs.get("/api/segments/")) == ["rep's own", "shared"]
    assert names(boss.get("/api/segments/")) == ["shared"]
    for client in (theirs, boss):
        url = f"/api/segments/{private['id']}/"
        assert client.get(url).status_code == 404
        assert client.get(f"{url}results/").status_code == 404
        assert client.patch(url, {"name": "x"}, format="json").status_code == 404
        assert client.delete(url).status_code == 404
    assert mine.get(f"/api/segments/{private['id']}/results/").status_code == 200


def test_only_the_owner_or_an_admin_changes_a_shared_segment(member, org):
    owner, rep, admin = member(role=Role.REP), member(role=Role.MANAGER), member(role=Role.ADMIN)
    mine, theirs, boss = client_for(org, owner), client_for(org, rep), client_for(org, admin)
    segment = create(mine, "team view", shared=True)
    url = f"/api/segments/{segment['id']}/"

    seen = theirs.get(url)
    assert (seen.status_code, seen.json()["can_edit"]) == (200, False)
    assert theirs.get(f"{url}results/").status_code == 200
    refused = theirs.patch(url, {"name": "mine now"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "segment_not_editable")
    assert theirs.delete(url).status_code == 403

    assert boss.get(url).json()["can_edit"] is True
    assert boss.patch(url, {"name": "renamed by admin"}, format="json").json()["name"] == "renamed by admin"
    updated = mine.patch(url, {"shared": False}, format="json").json()
    assert (updated["shared"], updated["owner"]["id"]) == (False, owner.pk)
    assert theirs.get(url).status_code == 404  # unshared: gone for everyone else
    assert mine.delete(url).status_code == 204
    assert mine.get(url).status_code == 404


def test_patch_revalidates_the_definition_against_the_record_type(api):
    client = api(Role.REP)
    segment = create(client, "new leads")
    url = f"/api/segments/{segment['id']}/"
    # lead stages are not opportunity stages
    changed_type = client.patch(url, {"record_type": "opportunity"}, format="json")
    assert changed_type.status_code == 400
    assert changed_type.json()["errors"]["conditions"][0].startswith(
        "#1: stage eq expects one of QUALIFICATION"
    )
    bad = client.patch(
        url, {"definition": {"conditions": [{"field": "foo", "op": "eq", "value": 1}]}}, format="json"
    )
    assert bad.json()["errors"] == {"conditions": ["#1: unknown field 'foo' for lead"]}
    both = client.patch(
        url,
        {
            "record_type": "opportunity",
            "definition": {"conditions": [{"field": "stage", "op": "eq", "value": "PROPOSAL"}]},
        },
        format="json",
    )
    assert both.status_code == 200
    assert both.json()["record_type"] == "opportunity"
    for body, field in [({"owner": 1}, "owner"), ({"name": ""}, "name"), ({"shared": None}, "shared")]:
        response = client.patch(url, body, format="json")
        assert response.status_code == 400
        assert field in response.json()["errors"]


def test_filters_on_the_segment_list(member, org):
    owner, rep = member(role=Role.REP), member(role=Role.REP)
    mine, theirs = client_for(org, owner), client_for(org, rep)
    create(mine, "my leads")
    create(mine, "my accounts", record_type="account", definition={})
    create(theirs, "their shared leads", shared=True)
    assert names(mine.get("/api/segments/?record_type=lead")) == ["my leads", "their shared leads"]
    assert names(mine.get("/api/segments/?mine=true")) == ["my accounts", "my leads"]
    assert names(mine.get("/api/segments/?mine=false")) == ["their shared leads"]
    assert mine.get("/api/segments/?record_type=task").status_code == 400


def test_unknown_and_absurd_segment_ids_are_404(api):
    client = api(Role.ADMIN)
    for segment_id in ("0", "424242", "99999999999999999999999999"):
        assert client.get(f"/api/segments/{segment_id}/").status_code == 404
        assert client.get(f"/api/segments/{segment_id}/results/").status_code == 404
        assert client.delete(f"/api/segments/{segment_id}/").status_code == 404


def test_organizations_never_see_each_others_segments_or_rows(api, make_lead, org, other_org):
    make_lead(name="acme lead")
    make_lead(name="globex lead", organization=other_org)
    acme, globex = api(Role.ADMIN), api(Role.ADMIN, organization=other_org)
    ours = create(acme, "acme segment", shared=True, definition={})
    theirs = create(globex, "globex segment", shared=True, definition={})

    assert names(acme.get("/api/segments/")) == ["acme segment"]
    assert names(globex.get("/api/segments/")) == ["globex segment"]
    assert names(acme.get(f"/api/segments/{ours['id']}/results/")) == ["acme lead"]
    assert names(globex.get(f"/api/segments/{theirs['id']}/results/")) == ["globex lead"]
    # Ids are per schema and may coincide: whatever the id, each host resolves it in its own schema.
    assert acme.get(f"/api/segments/{theirs['id']}/").json().get("name") != "globex segment"
    assert globex.get(f"/api/segments/{ours['id']}/").json().get("name") != "acme segment"
    globex.patch(f"/api/segments/{ours['id']}/", {"name": "hijacked"}, format="json")
    globex.delete(f"/api/segments/{ours['id']}/")
    with schema_context(org.schema_name):
        assert Segment.objects.get(pk=ours["id"]).name == "acme segment"
    assert names(globex.get("/api/segments/presets/no_activity_30_days/results/")) == ["globex lead"]


def test_segment_endpoints_require_a_member(org, api):
    segment = create(api(Role.REP), "s", shared=True)
    anonymous = client_for(org)
    for method, url in [
        ("get", "/api/segments/"),
        ("post", "/api/segments/"),
        ("get", f"/api/segments/{segment['id']}/"),
        ("get", f"/api/segments/{segment['id']}/results/"),
        ("get", "/api/segments/presets/"),
        ("get", "/api/segments/presets/my_open_leads/results/"),
    ]:
        assert getattr(anonymous, method)(url).status_code == 401
