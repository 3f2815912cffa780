"""Roles at the base view, API keys, throttling and idempotency (issue 9's access layer)."""

from django.core.cache import cache
from django_tenants.utils import schema_context

from shared_apps.users.models import ApiKey, AuthToken, Role, User
from tenant_apps.leads.models import Lead
from tests.conftest import client_for


def test_viewers_are_read_only_everywhere(api, make_lead):
    lead = make_lead()
    viewer = api(Role.VIEWER)
    assert viewer.get("/api/leads/").status_code == 200
    assert viewer.post("/api/leads/", {"name": "x"}, format="json").status_code == 403
    assert viewer.patch(f"/api/leads/{lead.pk}/", {"name": "x"}, format="json").status_code == 403
    assert (
        viewer.post(f"/api/leads/{lead.pk}/transition/", {"stage": "LOST"}, format="json").status_code == 403
    )
    assert viewer.post("/api/accounts/", {"name": "x"}, format="json").status_code == 403


def test_only_admins_manage_members(api, org, member):
    rep = member(role=Role.REP)
    assert (
        api(Role.MANAGER)
        .post("/api/members/", {"email": "n@acme.test", "role": "rep"}, format="json")
        .status_code
        == 403
    )
    assert api(Role.REP).get("/api/members/").status_code == 200
    admin = api(Role.ADMIN)
    invited = admin.post("/api/members/", {"email": "New@Acme.test", "role": "viewer"}, format="json")
    assert (invited.status_code, invited.json()["email"]) == (201, "new@acme.test")
    promoted = admin.patch(f"/api/members/{rep.pk}/", {"role": "manager"}, format="json")
    assert promoted.json()["role"] == "manager"
    assert admin.patch(f"/api/members/{rep.pk}/", {"role": "boss"}, format="json").status_code == 400


def test_the_last_admin_stays(org, member):
    with schema_context(org.schema_name):
        User.objects.filter(role=Role.ADMIN).update(role=Role.REP)
    only_admin = member(role=Role.ADMIN)
    client = client_for(org, only_admin)
    assert (
        client.patch(f"/api/members/{only_admin.pk}/", {"role": "rep"}, format="json").json()["code"]
        == "last_admin"
    )
    assert client.post(f"/api/members/{only_admin.pk}/deactivate/").status_code == 409


def test_a_deactivated_member_is_locked_out_at_once_and_keeps_their_records(api, org, member, make_lead):
    rep = member(role=Role.REP)
    rep_client = client_for(org, rep)
    lead = make_lead(owner_id=rep.pk)
    assert rep_client.get("/api/me/").status_code == 200
    assert api(Role.ADMIN).post(f"/api/members/{rep.pk}/deactivate/").json()["is_active"] is False
    assert rep_client.get("/api/me/").status_code == 401
    with schema_context(org.schema_name):
        assert not AuthToken.objects.filter(user=rep).exists()
        assert Lead.objects.get(pk=lead.pk).owner_id == rep.pk


def make_key(client, **body):
    response = client.post("/api/api-keys/", {"name": "integration", **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_api_keys_are_shown_once_stored_hashed_and_scoped(api, org, make_lead):
    admin = api(Role.ADMIN)
    created = make_key(admin, scope="read")
    raw = created["key"]
    assert raw.startswith("lpk_" + created["prefix"] + "_")
    listed = admin.get("/api/api-keys/").json()["results"]
    assert "key" not in listed[0]
    with schema_context(org.schema_name):
        assert raw not in ApiKey.objects.get().digest

    reader = client_for(org)
    reader.credentials(HTTP_X_API_KEY=raw)
    assert reader.get("/api/leads/").status_code == 200
    assert reader.post("/api/leads/", {"name": "x"}, format="json").status_code == 403
    with schema_context(org.schema_name):
        assert ApiKey.objects.get().last_used_at is not None


def test_api_key_resources_limit_what_it_reaches(api, org):
    raw = make_key(api(Role.ADMIN), scope="write", resources=["leads"])["key"]
    client = client_for(org)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.post("/api/leads/", {"name": "via key"}, format="json").status_code == 201
    assert client.get("/api/accounts/").status_code == 403


def test_api_key_resources_are_those_the_apps_declare(api, org, monkeypatch):
    from django.apps import apps

    admin = api(Role.ADMIN)
    # declared by the automation app (its /api/rules/), by imports (exports), by realtime (pipeline)
    assert make_key(admin, resources=["rules", "exports", "pipeline"])["resources"] == [
        "exports",
        "pipeline",
        "rules",
    ]
    refused = admin.post("/api/api-keys/", {"name": "x", "resources": ["checklists"]}, format="json")
    assert refused.status_code == 400
    assert "resources" in refused.json()["errors"]
    # a resource is known because an app declares it: declare one more and it is accepted
    monkeypatch.setattr(
        apps.get_app_config("tasks"), "api_key_resources", ("tasks", "checklists"), raising=True
    )
    assert make_key(admin, resources=["checklists"])["resources"] == ["checklists"]


def test_api_keys_are_managed_by_admins_revocable_and_bound_to_their_organization(api, org, other_org):
    assert api(Role.MANAGER).get("/api/api-keys/").status_code == 403
    admin = api(Role.ADMIN)
    created = make_key(admin)
    client = client_for(other_org)
    client.credentials(HTTP_X_API_KEY=created["key"])
    assert client.get("/api/leads/").status_code == 401
    own = client_for(org)
    own.credentials(HTTP_X_API_KEY=created["key"])
    assert own.get("/api/leads/").status_code == 200
    admin.post(f"/api/api-keys/{created['id']}/revoke/")
    assert own.get("/api/leads/").status_code == 401
    assert (
        admin.post("/api/api-keys/", {"name": "x", "resources": ["spaceships"]}, format="json").status_code
        == 400
    )


def test_throttling_answers_429_with_retry_after_per_member(api, org, settings):
    settings.THROTTLE_RATES_BY_PLAN = {**settings.THROTTLE_RATES_BY_PLAN, "free": "3/min"}
    first, second = api(Role.REP), api(Role.REP)
    codes = [first.get("/api/leads/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = first.get("/api/leads/")
    assert limited.json()["code"] == "throttled" and int(limited["Retry-After"]) > 0
    assert second.get("/api/leads/").status_code == 200  # another member's budget is untouched


def test_one_organization_at_its_limit_never_slows_another(api, org, other_org, settings):
    settings.THROTTLE_RATES_BY_PLAN = {**settings.THROTTLE_RATES_BY_PLAN, "free": "2/min"}
    acme, globex = api(Role.REP), api(Role.REP, organization=other_org)
    for _ in range(3):
        acme.get("/api/leads/")
    assert acme.get("/api/leads/").status_code == 429
    assert globex.get("/api/leads/").status_code == 200


def test_sign_in_attempts_are_throttled(org, member, settings):
    settings.THROTTLE_SIGN_IN_RATE = "3/min"
    user = member()
    client = client_for(org)
    codes = [
        client.post("/api/auth/token/", {"email": user.email, "password": "wrong"}, format="json").status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]


def test_idempotency_key_replays_the_first_response_without_a_second_write(api, org):
    client = api(Role.ADMIN)
    first = client.post("/api/leads/", {"name": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/leads/", {"name": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    with schema_context(org.schema_name):
        assert Lead.objects.filter(name="Once").count() == 1
    other_body = client.post("/api/leads/", {"name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (other_body.status_code, other_body.json()["code"]) == (422, "idempotency_key_reused")


def test_idempotency_key_in_flight_is_409_and_keys_are_per_caller(api, org):
    client, other = api(Role.ADMIN), api(Role.ADMIN)
    # another caller's identical key is independent
    assert (
        client.post("/api/leads/", {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="same").status_code
        == 201
    )
    assert (
        other.post("/api/leads/", {"name": "B"}, format="json", HTTP_IDEMPOTENCY_KEY="same").status_code
        == 201
    )
    # simulate a first request still running
    for key in list(cache._cache.get_client().scan_iter("*idem:*")):  # type: ignore[attr-defined]
        cache._cache.get_client().delete(key)  # type: ignore[attr-defined]
    from shared_apps.http import idempotency

    original = idempotency.remember
    idempotency.remember = lambda claimed, response, **kwargs: None  # the first request never finishes
    try:
        client.post("/api/leads/", {"name": "C"}, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    finally:
        idempotency.remember = original
    response = client.post("/api/leads/", {"name": "C"}, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    assert (response.status_code, response.json()["code"]) == (409, "idempotency_in_flight")


def test_reps_see_their_own_and_unassigned_leads_and_change_only_their_own(org, member, make_lead, api):
    rep = member(role=Role.REP)
    mine = make_lead(name="mine", owner_id=rep.pk)
    free = make_lead(name="unassigned")
    theirs = make_lead(name="someone else's", owner_id=member(role=Role.REP).pk)
    client = client_for(org, rep)

    assert sorted(row["name"] for row in client.get("/api/leads/").json()["results"]) == [
        "mine",
        "unassigned",
    ]
    assert client.get(f"/api/leads/{theirs.pk}/").status_code == 404  # existence not revealed
    assert client.get(f"/api/leads/{theirs.pk}/activities/").status_code == 404
    assert (
        client.post(f"/api/leads/{theirs.pk}/transition/", {"stage": "LOST"}, format="json").status_code
        == 404
    )
    assert client.patch(f"/api/leads/{mine.pk}/", {"name": "still mine"}, format="json").status_code == 200
    forbidden = client.patch(f"/api/leads/{free.pk}/", {"name": "grab"}, format="json")
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "not_your_lead")
    # managers see everything
    assert len(api(Role.MANAGER).get("/api/leads/").json()["results"]) == 3


def test_an_organization_can_let_reps_see_all_leads(org, member, make_lead):
    rep = member(role=Role.REP)
    make_lead(name="someone else's", owner_id=member(role=Role.REP).pk)
    org.reps_see_all_leads = True
    org.save(update_fields=["reps_see_all_leads"])
    assert [row["name"] for row in client_for(org, rep).get("/api/leads/").json()["results"]] == [
        "someone else's"
    ]


def test_an_idempotent_replay_never_repeats_a_secret(api):
    admin = api(Role.ADMIN)
    body = {"name": "ci"}
    first = admin.post("/api/api-keys/", body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    again = admin.post("/api/api-keys/", body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert first.json()["key"].startswith("lpk_")
    assert (again.json()["id"], again.json()["key"], again.json()["secret_withheld"]) == (
        first.json()["id"],
        None,
        True,
    )
    stored = [
        value
        for key in cache._cache.get_client().scan_iter("*idem:*")  # type: ignore[attr-defined]
        for value in [cache._cache.get_client().get(key)]
    ]  # type: ignore[attr-defined]
    assert all(first.json()["key"].encode() not in value for value in stored)


def test_search_and_opportunities_hide_other_reps_records(org, member, make_lead, api):
    from tenant_apps.accounts.models import Account
    from tenant_apps.opportunities.models import Opportunity

    rep, other = member(role=Role.REP), member(role=Role.REP)
    make_lead(name="Zebulon Hidden", owner_id=other.pk)
    make_lead(name="Zebulon Mine", owner_id=rep.pk)
    with schema_context(org.schema_name):
        account = Account.objects.create(name="Acct")
        theirs = Opportunity.objects.create(account=account, name="Their deal", owner=other)
    client = client_for(org, rep)
    found = [row["title"] for row in client.get("/api/search/", {"q": "zebulon"}).json()["results"]]
    assert found == ["Zebulon Mine"]
    assert client.get("/api/opportunities/").json()["results"] == []
    assert client.get(f"/api/opportunities/{theirs.pk}/").status_code == 404
    assert api(Role.MANAGER).get(f"/api/opportunities/{theirs.pk}/").status_code == 200
