"""Plans with limits: operators define them on the platform API; organizations work within their plan's
limits (402 plan_limit_reached naming the limit), admins warned once at 80%, a change applying at once."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.organizations.models import Organization, PlanDefinition
from shared_apps.users.models import Role, User
from tenant_apps.leads.models import Lead
from tenant_apps.notifications.models import Notification
from tests.conftest import client_for

PLANS = "/api/platform/plans/"
PUBLIC_URL = "https://93.184.215.14/hooks/leadpulse"


@pytest.fixture
def tight(public):
    """A plan every limit test narrows; acme is moved onto it by `on_plan`."""
    return PlanDefinition.objects.create(slug="tight", name="Tight")


@pytest.fixture
def on_plan(org, tight, platform_api):
    def move(**limits):
        if limits:
            assert platform_api.patch(f"{PLANS}tight/", limits, format="json").status_code == 200
        response = platform_api.patch("/api/platform/organizations/acme/", {"plan": "tight"}, format="json")
        assert response.status_code == 200, response.json()
        return Organization.objects.get(slug="acme")

    return move


def refused(response, limit, maximum, current):
    assert response.status_code == 402, response.content
    body = response.json()
    assert body["code"] == "plan_limit_reached"
    assert body["details"] == {"limit": limit, "max": maximum, "current": current}


# ---- the platform API


def test_the_four_built_in_plans_exist_without_limits(platform_api):
    rows = platform_api.get(PLANS).json()
    assert [row["slug"] for row in rows] == ["business", "enterprise", "free", "team"]
    assert all(row["max_records"] is None and row["max_members"] is None for row in rows)


def test_an_operator_defines_changes_and_removes_a_plan_each_audited(platform_api):
    response = platform_api.post(
        PLANS, {"slug": "starter", "name": "Starter", "max_members": 5, "max_records": 500}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["max_members"], response.json()["imports_per_day"]) == (5, None)

    response = platform_api.patch(
        f"{PLANS}starter/", {"max_records": None, "imports_per_day": 3}, format="json"
    )
    assert (response.json()["max_records"], response.json()["imports_per_day"]) == (None, 3)
    assert platform_api.get(f"{PLANS}starter/").json()["name"] == "Starter"

    assert platform_api.delete(f"{PLANS}starter/").status_code == 204
    assert platform_api.get(f"{PLANS}starter/").status_code == 404
    actions = list(
        AuditEvent.objects.filter(target_repr="starter").order_by("id").values_list("action", flat=True)
    )
    assert actions == ["plan.created", "plan.updated", "plan.deleted"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "x", "name": "X"}, "slug"),
        ({"slug": "Big Plan", "name": "X"}, "slug"),
        ({"slug": "neg", "name": "Neg", "max_members": -1}, "max_members"),
        ({"slug": "txt", "name": "Txt", "max_records": "lots"}, "max_records"),
        ({"slug": "noname"}, "name"),
    ],
)
def test_bad_plan_input_is_400_naming_the_field(platform_api, body, field):
    response = platform_api.post(PLANS, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_a_taken_slug_is_409(platform_api):
    response = platform_api.post(PLANS, {"slug": "team", "name": "Again"}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "plan_slug_taken")


def test_a_plan_organizations_are_on_cannot_be_removed(platform_api, org):
    response = platform_api.delete(f"{PLANS}free/")
    assert (response.status_code, response.json()["code"]) == (409, "plan_in_use")
    assert PlanDefinition.objects.filter(slug="free").exists()


def test_plans_are_for_operators_only(api):
    assert client_for(None).get(PLANS).status_code == 401
    member_token = api(Role.ADMIN)._credentials["HTTP_AUTHORIZATION"]
    assert client_for(None).get(PLANS, HTTP_AUTHORIZATION=member_token).status_code == 401


def test_an_organization_moves_to_a_defined_plan_and_not_to_an_unknown_one(platform_api, tight, org):
    response = platform_api.patch("/api/platform/organizations/acme/", {"plan": "tight"}, format="json")
    assert (response.status_code, response.json()["plan"]) == (200, "tight")
    response = platform_api.patch("/api/platform/organizations/acme/", {"plan": "gold"}, format="json")
    assert response.status_code == 400 and "plan" in response.json()["errors"]


# ---- limits in the organization


def test_records_past_the_limit_are_refused_whatever_their_type(api, on_plan):
    on_plan(max_records=2)
    client = api(Role.ADMIN)
    assert client.post("/api/leads/", {"name": "One"}, format="json").status_code == 201
    assert client.post("/api/accounts/", {"name": "Two Inc"}, format="json").status_code == 201
    refused(client.post("/api/leads/", {"name": "Three"}, format="json"), "records", 2, 2)
    refused(client.post("/api/contacts/", {"name": "Four"}, format="json"), "records", 2, 2)


def test_a_deleted_record_frees_its_place(api, on_plan, org):
    on_plan(max_records=1)
    client = api(Role.ADMIN)
    lead_id = client.post("/api/leads/", {"name": "One"}, format="json").json()["id"]
    refused(client.post("/api/leads/", {"name": "Two"}, format="json"), "records", 1, 1)
    assert client.delete(f"/api/leads/{lead_id}/").status_code in (200, 204)
    assert client.post("/api/leads/", {"name": "Two"}, format="json").status_code == 201


def test_a_plan_change_takes_effect_at_once(api, on_plan, platform_api):
    on_plan(max_records=1)
    client = api(Role.ADMIN)
    assert client.post("/api/leads/", {"name": "One"}, format="json").status_code == 201
    refused(client.post("/api/leads/", {"name": "Two"}, format="json"), "records", 1, 1)
    # the plan's limit raised: the next request sees it (cached limits forgotten)
    assert platform_api.patch(f"{PLANS}tight/", {"max_records": 2}, format="json").status_code == 200
    assert client.post("/api/leads/", {"name": "Two"}, format="json").status_code == 201
    refused(client.post("/api/leads/", {"name": "Three"}, format="json"), "records", 2, 2)
    # the organization moved to an unlimited plan: the next request sees it (cached route forgotten)
    response = platform_api.patch("/api/platform/organizations/acme/", {"plan": "enterprise"}, format="json")
    assert response.status_code == 200
    assert client.post("/api/leads/", {"name": "Three"}, format="json").status_code == 201


def test_members_and_invitations_past_the_members_limit_are_refused(api, on_plan, org):
    client = api(Role.ADMIN)
    with schema_context(org.schema_name):
        members = User.objects.filter(is_active=True).count()
    on_plan(max_members=members + 2)
    invite = {"email": "new1@acme.test", "role": "rep"}
    assert client.post("/api/members/", invite, format="json").status_code == 201
    created = {"email": "new2@acme.test", "role": "rep", "password": "Another-long-pass-42"}
    assert client.post("/api/members/", created, format="json").status_code == 201
    # the pending invitation counts: it will be a member
    refused(
        client.post("/api/members/", {"email": "new3@acme.test", "role": "rep"}, format="json"),
        "members",
        members + 2,
        members + 2,
    )
    created["email"] = "new4@acme.test"
    refused(client.post("/api/members/", created, format="json"), "members", members + 2, members + 2)


def test_webhook_endpoints_past_the_limit_are_refused(api, on_plan):
    on_plan(max_webhook_endpoints=1)
    client = api(Role.ADMIN)
    body = {"url": PUBLIC_URL, "event_types": ["lead.created"]}
    assert client.post("/api/webhooks/", body, format="json").status_code == 201
    refused(client.post("/api/webhooks/", body, format="json"), "webhook_endpoints", 1, 1)


def upload(client, text, **options):
    options.setdefault("record_type", "lead")
    return client.post(
        "/api/imports/",
        {
            "file": SimpleUploadedFile("rows.csv", text.encode(), content_type="text/csv"),
            "options": json.dumps(options),
        },
        format="multipart",
    )


def test_imports_past_the_daily_limit_are_refused_and_previews_do_not_count(api, on_plan, settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path
    on_plan(imports_per_day=1)
    client = api(Role.MANAGER)
    assert upload(client, "name\nAda\n", dry_run=True).status_code == 202
    assert upload(client, "name\nAda\n").status_code == 202
    assert upload(client, "name\nBob\n", dry_run=True).status_code == 202
    refused(upload(client, "name\nBob\n"), "imports_per_day", 1, 1)


def test_an_import_writes_no_row_past_the_records_limit(api, on_plan, org, settings, tmp_path):
    from tenant_apps.imports import services as imports

    settings.EXPORTS_DIR = tmp_path
    on_plan(max_records=2)
    client = api(Role.MANAGER)
    response = upload(client, "name\nAda\nBob\nCyd\nDan\n")
    assert response.status_code == 202, response.content
    with schema_context(org.schema_name):
        run = imports.import_run(import_id=response.json()["id"])
        assert Lead.objects.count() == 2
    assert run.status == "failed" and "plan_limit_reached" in run.error
    # at the limit, a new import is refused at once
    refused(upload(client, "name\nEve\n"), "records", 2, 2)


def test_the_throttle_reads_the_plan_s_requests_per_minute(api, on_plan):
    on_plan(api_requests_per_minute=3)
    client = api(Role.ADMIN)
    statuses = [client.get("/api/leads/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_admins_are_warned_once_at_80_percent(api, on_plan, member, org, django_capture_on_commit_callbacks):
    on_plan(max_records=5)
    client = api(Role.ADMIN)
    other_admin = member(role=Role.ADMIN)
    rep = member(role=Role.REP)
    for number in range(5):  # the 4th reaches 80%; the 5th the limit itself: one warning
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post("/api/leads/", {"name": f"L{number}"}, format="json").status_code == 201
        if number < 3:
            with schema_context(org.schema_name):
                assert not Notification.objects.filter(kind="plan_limit").exists()
    with schema_context(org.schema_name):
        warned = Notification.objects.filter(kind="plan_limit")
        assert other_admin.pk in set(warned.values_list("recipient_id", flat=True))
        assert rep.pk not in set(warned.values_list("recipient_id", flat=True))
        assert warned.filter(recipient_id=other_admin.pk).count() == 1
        assert warned.filter(recipient_id=other_admin.pk).get().data == {
            "limit": "records",
            "max": 5,
            "current": 4,
        }


def test_limits_of_one_organization_do_not_touch_another(api, on_plan, other_org):
    on_plan(max_records=0)
    refused(api(Role.ADMIN).post("/api/leads/", {"name": "One"}, format="json"), "records", 0, 0)
    response = api(Role.ADMIN, organization=other_org).post("/api/leads/", {"name": "One"}, format="json")
    assert response.status_code == 201
