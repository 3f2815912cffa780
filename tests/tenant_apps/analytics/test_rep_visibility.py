"""Issue 15: a rep kept to their own leads sees only their own row of the per-owner breakdowns."""

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role
from tenant_apps.analytics import services
from tests.conftest import client_for


def owners(body):
    return [(row["owner"] or {}).get("id") for row in body["by_owner"]]


def test_a_reps_by_owner_rows_are_their_own_only(pipeline, api):
    services.analytics_refresh()
    rep = client_for(pipeline.organization, pipeline.a)
    for path in ("pipeline", "conversion"):
        body = rep.get(f"/api/analytics/{path}/", {"date_from": "2026-01-01", "date_to": "2026-01-31"})
        assert body.status_code == 200, body.content
        assert owners(body.json()) == [pipeline.a.pk], path
        everyone = api(Role.MANAGER).get(
            f"/api/analytics/{path}/", {"date_from": "2026-01-01", "date_to": "2026-01-31"}
        )
        assert pipeline.b.pk in owners(everyone.json()), path
    assert rep.get(f"/api/analytics/pipeline/?owner={pipeline.b.pk}").status_code == 403


def test_reps_see_every_row_when_the_organization_lets_them(pipeline):
    services.analytics_refresh()
    organization = Organization.objects.get(pk=pipeline.organization.pk)
    organization.reps_see_all_leads = True
    organization.save()
    rep = client_for(pipeline.organization, pipeline.a)
    body = rep.get("/api/analytics/pipeline/").json()
    assert set(owners(body)) == {pipeline.a.pk, pipeline.b.pk, None}
    assert rep.get(f"/api/analytics/pipeline/?owner={pipeline.b.pk}").status_code == 200
