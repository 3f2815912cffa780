from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.leads.models import Lead


def test_a_merged_lead_refuses_every_write(api, make_lead, org):
    survivor, merged = make_lead(name="Keep"), make_lead(name="Gone")
    client = api(Role.ADMIN)
    response = client.post(
        "/api/leads/merge/", {"survivor": survivor.pk, "merged": [merged.pk], "fields": {}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert client.patch(f"/api/leads/{merged.pk}/", {"name": "x"}, format="json").status_code == 404
    assert (
        client.post(f"/api/leads/{merged.pk}/transition/", {"stage": "LOST"}, format="json").status_code
        == 404
    )
    assert client.delete(f"/api/leads/{merged.pk}/").status_code == 404
    assert client.post(f"/api/leads/{merged.pk}/restore/").status_code == 404
    assert client.post(f"/api/leads/{merged.pk}/notes/", {"body": "late"}, format="json").status_code == 404
    with schema_context(org.schema_name):
        tombstone = Lead.objects.get(pk=merged.pk)
        assert (tombstone.name, tombstone.stage, tombstone.deleted_at) == ("Gone", "NEW", None)
