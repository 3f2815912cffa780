from django.conf import settings
from rq.cron import CronScheduler

from tests.conftest import client_for


def test_openapi_schema_on_the_root_domain_documents_the_platform(public):
    response = client_for(None).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/platform/organizations/" in paths and "/api/me/" not in paths
    assert client_for(None).get("/api/docs/").status_code == 200


def test_openapi_schema_on_an_organization_documents_its_api(org):
    response = client_for(org).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.json()
    assert "/api/me/" in body["paths"] and "/api/platform/organizations/" not in body["paths"]
    assert body["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert client_for(org).get("/api/docs/").status_code == 200


def test_admin_is_on_the_root_domain_only(org):
    assert client_for(None).get("/admin/login/").status_code == 200
    assert client_for(org).get("/admin/login/").status_code == 404


def test_cron_config_registers_the_fanned_out_jobs(db):
    scheduler = CronScheduler(connection=None)  # type: ignore[arg-type]
    scheduler.load_config_from_file(str(settings.BASE_DIR / "config" / "cron.py"))
    jobs = scheduler.get_jobs()
    # every periodic job is per organization (fanned out, never run in the public schema), but the platform's
    # own upkeep: the pool of spare organization schemas
    platform = {"shared_apps.organizations.spares.spares_top_up": "* * * * *"}
    assert {job.func_name: job.cron for job in jobs if job.func_name in platform} == platform
    fanned = [job for job in jobs if job.func_name not in platform]
    assert fanned and {job.func_name for job in fanned} == {"shared_apps.organizations.jobs.fan_out"}
    assert "purge_expired_tokens" in {job.args[0].__name__ for job in fanned}
