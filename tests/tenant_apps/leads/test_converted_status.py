"""A converted lead shows as converted (status derived from converted_at; its stage stays the one it was
converted in), leaves the open pipeline everywhere, and its stage no longer moves: its deal carries on."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.leads import conversion
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.reminders.selectors import idle_leads
from tests.conftest import client_for


@pytest.fixture
def converted(make_lead, member, org):
    rep = member(role=Role.REP)
    lead = make_lead(name="Jane Converted", stage=Stage.QUALIFIED, company="Initech", owner_id=rep.pk)
    still_open = make_lead(name="Joe Open", stage=Stage.QUALIFIED, owner_id=rep.pk)
    with schema_context(org.schema_name):
        conversion.lead_convert(lead_id=lead.pk, actor=None, create_opportunity=True)
        lead = Lead.objects.get(pk=lead.pk)
    return lead, still_open, rep


def names(response):
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def test_the_api_shows_a_converted_lead_as_converted_with_where_it_went(api, converted):
    lead, still_open, _rep = converted
    client = api(Role.VIEWER)
    body = client.get(f"/api/leads/{lead.pk}/").json()
    assert (body["status"], body["stage"]) == ("converted", "QUALIFIED")
    assert body["allowed_transitions"] == []
    assert body["converted_opportunity"] == lead.converted_opportunity_id is not None
    assert client.get(f"/api/leads/{still_open.pk}/").json()["status"] == "open"
    assert names(client.get("/api/leads/?status=converted")) == ["Jane Converted"]
    assert names(client.get("/api/leads/?status=open")) == ["Joe Open"]
    assert names(client.get("/api/leads/?status=open,converted")) == ["Jane Converted", "Joe Open"]
    bad = client.get("/api/leads/?status=gone")
    assert bad.status_code == 400 and "status" in bad.json()["errors"]


def test_a_converted_leads_stage_does_not_move(api, converted, org):
    lead, _still_open, _rep = converted
    response = api(Role.ADMIN).post(f"/api/leads/{lead.pk}/transition/", {"stage": "WON"}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "lead_converted")
    assert response.json()["details"]["opportunity_id"] == lead.converted_opportunity_id
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=lead.pk).stage == Stage.QUALIFIED


def test_converted_leads_leave_the_open_lead_segments_and_follow_ups(converted, org):
    _lead, _still_open, rep = converted
    client = client_for(org, rep)
    response = client.get("/api/segments/presets/my_open_leads/results/")
    assert [row["name"] for row in response.json()["results"]] == ["Joe Open"]
    response = client.get("/api/segments/presets/no_activity_30_days/results/")
    assert [row["name"] for row in response.json()["results"]] == ["Joe Open"]
    with schema_context(org.schema_name):
        idle = idle_leads(cutoff=timezone.now() + timedelta(days=1))
        assert list(idle.values_list("name", flat=True)) == ["Joe Open"]
