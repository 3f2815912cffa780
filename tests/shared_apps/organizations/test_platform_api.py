import pytest
from django.conf import settings
from django_tenants.utils import schema_exists

from shared_apps.organizations.models import Organization
from shared_apps.users.models import AuthToken, User, token_digest
from tests.conftest import PASSWORD, client_for

URL = "/api/platform/organizations/"


def new_org(platform_api, slug="hooli", **overrides):
    body = {"name": "Hooli", "slug": slug, "admin_email": f"ceo@{slug}.test", "admin_password": PASSWORD}
    return platform_api.post(URL, {**body, **overrides}, format="json")


def test_platform_api_requires_a_token(public):
    response = client_for(None).get(URL)
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


def test_platform_api_refuses_a_non_operator(public):
    user = User.objects.create_user("someone@platform.test", PASSWORD)
    raw = "lpt_not-an-operator"
    AuthToken.objects.create(digest=token_digest(raw), user=user)
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(URL).status_code == 403


def test_only_operators_get_platform_tokens(public):
    User.objects.create_user("someone@platform.test", PASSWORD)
    response = client_for(None).post(
        "/api/platform/auth/token/", {"email": "someone@platform.test", "password": PASSWORD}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (401, "invalid_credentials")


def test_operator_signs_in_and_lists_organizations(operator):
    client = client_for(None)
    response = client.post(
        "/api/platform/auth/token/", {"email": operator.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    slugs = [row["slug"] for row in client.get(URL).json()["results"]]
    assert {"acme", "globex"} <= set(slugs)
    assert "template" not in slugs


def test_member_token_of_an_organization_is_refused_on_the_root_domain(api, org):
    client = api("admin")
    token = client._credentials["HTTP_AUTHORIZATION"]
    response = client_for(None).get(URL, HTTP_AUTHORIZATION=token)
    assert response.status_code == 401


def test_create_organization_returns_201_and_the_new_admin_can_sign_in(platform_api):
    response = new_org(platform_api)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {key: body[key] for key in ("slug", "name", "status")} == {
        "slug": "hooli",
        "name": "Hooli",
        "status": "active",
    }
    assert body["domains"][0]["domain"] == f"hooli.{settings.BASE_DOMAIN}"
    assert "created_at" in body and "admin_password" not in body

    sign_in = client_for(Organization.objects.get(slug="hooli")).post(
        "/api/auth/token/", {"email": "ceo@hooli.test", "password": PASSWORD}, format="json"
    )
    assert sign_in.status_code == 200


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"slug": "www"}, 400, "slug"),
        ({"slug": "Bad Slug"}, 400, "slug"),
        ({"slug": 12}, 400, "slug"),
        ({"admin_email": "not-an-email"}, 400, "admin_email"),
        ({"admin_password": "short"}, 400, "admin_password"),
        ({"name": ""}, 400, "name"),
        ({"plan": "platinum"}, 400, "plan"),
    ],
)
def test_invalid_organization_input_names_the_field(platform_api, overrides, status, field):
    response = new_org(platform_api, **overrides)
    assert response.status_code == status
    assert field in response.json()["errors"]
    assert not Organization.objects.filter(slug="hooli").exists()


def test_duplicate_slug_is_409(platform_api):
    response = new_org(platform_api, slug="acme")
    assert (response.status_code, response.json()["code"]) == (409, "slug_taken")


def test_malformed_json_is_400(platform_api):
    response = platform_api.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_suspend_and_reactivate_through_patch(platform_api):
    assert (
        platform_api.patch(f"{URL}acme/", {"status": "suspended"}, format="json").json()["status"]
        == "suspended"
    )
    assert Organization.objects.get(slug="acme").status == "suspended"
    assert platform_api.patch(f"{URL}acme/", {"status": "active"}, format="json").json()["status"] == "active"
    response = platform_api.patch(f"{URL}acme/", {"status": "deleted"}, format="json")
    assert (response.status_code, list(response.json()["errors"])) == (400, ["status"])


def test_delete_then_purge_requires_the_slug_typed_again(platform_api):
    new_org(platform_api)
    deleted = platform_api.delete(f"{URL}hooli/")
    assert (deleted.status_code, deleted.json()["status"], deleted.json()["domains"]) == (200, "deleted", [])
    schema = Organization.objects.get(slug="hooli").schema_name
    assert schema_exists(schema)

    # The slug and the subdomain are free again while the old data waits for purge.
    assert new_org(platform_api, name="Hooli 2").status_code == 201

    wrong = platform_api.post(f"{URL}hooli/purge/", {"confirm": "hool"}, format="json")
    assert (wrong.status_code, list(wrong.json()["errors"])) == (400, ["confirm"])
    # Purge takes the deleted organization, never the live one that reused its slug.
    assert platform_api.post(f"{URL}hooli/purge/", {"confirm": "hooli"}, format="json").status_code == 204
    assert not schema_exists(schema)
    assert platform_api.get(f"{URL}hooli/").json()["name"] == "Hooli 2"


def test_purging_a_live_organization_is_refused(platform_api):
    new_org(platform_api)
    response = platform_api.post(f"{URL}hooli/purge/", {"confirm": "hooli"}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "not_deleted")
    assert platform_api.post(f"{URL}nobody/purge/", {"confirm": "nobody"}, format="json").status_code == 404


def test_purge_drops_the_schema(platform_api):
    new_org(platform_api)
    platform_api.delete(f"{URL}hooli/")
    schema = Organization.objects.get(slug="hooli").schema_name
    assert platform_api.post(f"{URL}hooli/purge/", {"confirm": "hooli"}, format="json").status_code == 204
    assert not schema_exists(schema)
    assert not Organization.objects.filter(slug="hooli").exists()


def test_unknown_organization_is_404(platform_api):
    response = platform_api.get(f"{URL}nobody/")
    assert (response.status_code, response.json()["code"]) == (404, "organization_not_found")


def test_custom_domains_are_added_listed_and_removed(platform_api):
    url = f"{URL}acme/domains/"
    created = platform_api.post(url, {"domain": "crm.acme.example.com"}, format="json")
    assert created.status_code == 201
    assert [row["domain"] for row in platform_api.get(url).json()] == [
        f"acme.{settings.BASE_DOMAIN}",
        "crm.acme.example.com",
    ]
    taken = platform_api.post(f"{URL}globex/domains/", {"domain": "crm.acme.example.com"}, format="json")
    assert (taken.status_code, taken.json()["code"]) == (409, "domain_taken")
    primary = platform_api.delete(f"{url}acme.{settings.BASE_DOMAIN}/")
    assert (primary.status_code, primary.json()["code"]) == (409, "primary_domain_required")
    assert platform_api.delete(f"{url}crm.acme.example.com/").status_code == 204
    assert platform_api.delete(f"{url}crm.acme.example.com/").status_code == 404


@pytest.mark.parametrize(
    ("domain", "code"),
    [("not a domain", "invalid_domain"), (f"x.{settings.BASE_DOMAIN}", "reserved_domain"), ("", "required")],
)
def test_bad_custom_domains_are_400(platform_api, domain, code):
    response = platform_api.post(f"{URL}acme/domains/", {"domain": domain}, format="json")
    assert response.status_code == 400
    assert "domain" in response.json()["errors"]


def test_the_organization_list_comes_a_bounded_page_at_a_time(platform_api):
    first = platform_api.get(URL, {"page_size": 1}).json()
    assert len(first["results"]) == 1 and first["next"]
    second = platform_api.get(first["next"]).json()
    assert second["results"][0]["slug"] > first["results"][0]["slug"]
    assert len(platform_api.get(URL, {"page_size": 100000}).json()["results"]) <= 200
