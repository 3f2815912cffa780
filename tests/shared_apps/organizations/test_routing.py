import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shared_apps.organizations import services
from shared_apps.users.models import Role
from tests.conftest import client_for


def test_unknown_subdomain_is_a_json_404(db):
    response = client_for(None).get("/api/me/", HTTP_HOST="nobody.testserver.local")
    assert response.status_code == 404
    assert response.json()["code"] == "organization_not_found"


def test_unknown_foreign_host_is_a_json_404(db):
    response = client_for(None).get("/api/me/", HTTP_HOST="evil.example.com")
    assert response.status_code == 404
    assert response.json()["code"] == "organization_not_found"


def test_root_domain_serves_the_platform_not_organization_routes(db):
    client = client_for(None)
    assert client.get("/api/platform/organizations/").status_code == 401
    response = client.get("/api/me/")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_organization_host_does_not_serve_platform_routes(api):
    response = api(Role.ADMIN).get("/api/platform/organizations/")
    assert response.status_code == 404


def test_member_request_is_served_from_its_organization(api, org):
    response = api(Role.MANAGER).get("/api/me/")
    assert response.status_code == 200
    assert response.json()["organization"]["slug"] == org.slug
    assert response.json()["role"] == Role.MANAGER


def test_suspended_organization_answers_403_json_and_keeps_its_data(api, org, public):
    client = api(Role.ADMIN)
    services.organization_set_status(organization=org, status="suspended")

    response = client.get("/api/me/")
    assert response.status_code == 403
    assert response.json()["code"] == "organization_suspended"

    services.organization_set_status(organization=org, status="active")
    assert client.get("/api/me/").status_code == 200


def test_custom_domain_routes_to_its_organization_until_removed(api, org, public):
    client = api(Role.REP)
    services.domain_add(organization=org, domain="CRM.Acme-Corp.com")

    response = client.get("/api/me/", HTTP_HOST="crm.acme-corp.com")
    assert response.status_code == 200
    assert response.json()["organization"]["slug"] == "acme"

    services.domain_remove(organization=org, domain="crm.acme-corp.com")
    assert client.get("/api/me/", HTTP_HOST="crm.acme-corp.com").status_code == 404


def test_warm_routing_costs_no_domain_query(api):
    client = api(Role.REP)
    client.get("/api/me/")  # warms the cache
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/me/").status_code == 200
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert "organizations_domain" not in sql
    assert "organizations_organization" not in sql


def test_deleted_organization_frees_its_subdomain(api, org, public):
    client = api(Role.ADMIN)
    services.organization_delete(organization=org)
    response = client.get("/api/me/")
    assert (response.status_code, response.json()["code"]) == (404, "organization_not_found")


@pytest.mark.parametrize("host", ["", "acme.testserver.local:notaport", "bad host"])
def test_malformed_hosts_never_500(db, host):
    response = client_for(None).get("/api/me/", HTTP_HOST=host)
    assert 400 <= response.status_code < 500
