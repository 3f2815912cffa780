"""A score set by hand (PATCH) is stored and announced, but like a computed one it is not a timeline event."""

from django_tenants.utils import schema_context

from shared_apps.core import events
from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.leads.models import Lead


def test_a_score_patched_by_hand_writes_no_timeline_entry(
    api, make_lead, org, django_capture_on_commit_callbacks
):
    lead = make_lead(name="Scored")
    with schema_context(org.schema_name):
        before = list(Activity.objects.filter(lead_id=lead.pk).values_list("id", flat=True))
    received = []
    unsubscribe = events.subscribe("lead.", received.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = api(Role.ADMIN).patch(f"/api/leads/{lead.pk}/", {"score": 42}, format="json")
    finally:
        unsubscribe()
    assert response.status_code == 200, response.content
    assert response.json()["score"] == 42
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=lead.pk).score == 42
        assert list(Activity.objects.filter(lead_id=lead.pk).values_list("id", flat=True)) == before
    # the rules watching the score still hear of it
    assert [(event.topic, event.data["changes"]) for event in received] == [
        ("lead.updated", {"score": [0, 42]})
    ]


def test_a_score_patched_with_other_fields_leaves_only_them_on_the_timeline(api, make_lead, org):
    lead = make_lead(name="Scored")
    response = api(Role.ADMIN).patch(
        f"/api/leads/{lead.pk}/", {"score": 7, "company": "Initech"}, format="json"
    )
    assert response.status_code == 200, response.content
    with schema_context(org.schema_name):
        updated = Activity.objects.filter(lead_id=lead.pk, type=ActivityType.SYSTEM).get()
    assert updated.metadata["changes"] == {"company": ["", "Initech"]}
