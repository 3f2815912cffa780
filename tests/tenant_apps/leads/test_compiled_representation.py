"""The lead API's representation is built from a compiled plan (shared_apps.http.representation): the same
output as DRF's own field-by-field walk, byte for byte, for leads in every state and in any time zone."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework import serializers

from shared_apps.http.representation import CompiledRepresentation, compile_plan
from shared_apps.users.models import Role
from tenant_apps.leads.api.serializers import LeadSerializer
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.leads.selectors import lead_list


class DrfWalk(LeadSerializer):
    """The same serializer, through DRF's generic to_representation."""

    def to_representation(self, instance: Lead) -> dict[str, Any]:
        return serializers.ModelSerializer.to_representation(self, instance)


def _dumped(serializer_class: type[serializers.Serializer], leads: list[Lead]) -> str:
    return json.dumps(serializer_class(leads, many=True).data, default=str)


@pytest.fixture
def varied_leads(org, api, member, make_lead):
    admin = api(Role.ADMIN)
    response = admin.post(
        "/api/custom-fields/",
        {"record_type": "lead", "type": "number", "label": "Budget", "key": "budget"},
        format="json",
    )
    assert response.status_code == 201, response.content
    owner = member(role=Role.REP)
    make_lead(name="Plain")
    make_lead(name="Owned", owner_id=owner.pk, email="o@x.example", tags=["a", "b"], value=Decimal("12.5"))
    make_lead(name="Won", stage=Stage.WON, company="Initech", phone="+33 1 23 45 67 89", currency="EUR")
    response = admin.post("/api/leads/", {"name": "Custom", "custom": {"budget": 7}}, format="json")
    assert response.status_code == 201, response.content
    deleted = make_lead(name="Deleted")
    with schema_context(org.schema_name):
        Lead.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())
        return list(Lead.objects.select_related("owner").order_by("id"))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns", "Asia/Kolkata"])
def test_same_output_as_drf_in_every_zone(org, varied_leads, zone):
    with schema_context(org.schema_name), timezone.override(zone):
        compiled, walked = _dumped(LeadSerializer, varied_leads), _dumped(DrfWalk, varied_leads)
    assert compiled == walked
    rows = json.loads(compiled)
    assert [row["name"] for row in rows] == ["Plain", "Owned", "Won", "Custom", "Deleted"]
    assert rows[1]["owner"]["email"].startswith("rep") and rows[1]["value"] == "12.50"
    assert rows[3]["custom"] == {"budget": "7"}
    assert rows[4]["deleted_at"] is not None
    if zone == "UTC":
        assert rows[0]["created_at"].endswith("Z")
    else:
        assert not rows[0]["created_at"].endswith("Z")


def test_the_api_list_page_is_unchanged(org, api, varied_leads):
    response = api(Role.ADMIN).get("/api/leads/?page_size=50")
    assert response.status_code == 200
    with schema_context(org.schema_name):
        leads = list(lead_list(actor=None).order_by("-created_at", "-id"))
        expected = json.loads(_dumped(DrfWalk, leads))
    assert response.json()["results"] == expected


def test_fields_the_fast_path_does_not_know_keep_drf_semantics():
    class Thing:
        name = "n"
        nested = None

        def shout(self) -> str:
            return "HI"

    class Loose(CompiledRepresentation):
        name = serializers.CharField()
        missing = serializers.CharField(required=False)  # absent attribute: skipped, as DRF does
        fallback = serializers.CharField(source="absent", default="d")  # absent: its default
        shout = serializers.CharField()  # a method: called
        nested = serializers.CharField(allow_null=True)

    assert Loose(Thing()).data == {"name": "n", "fallback": "d", "shout": "HI", "nested": None}
    plan = compile_plan(Loose())
    assert [name for name, _read, _render in plan] == ["name", "missing", "fallback", "shout", "nested"]


def test_a_plan_kept_per_class_still_reads_labels_per_serializer(org, make_lead):
    from tenant_apps.opportunities.stage_labels import lead_stage_labels_set

    make_lead(name="Labelled")
    with schema_context(org.schema_name), timezone.override("UTC"):
        leads = list(Lead.objects.all())
        assert LeadSerializer(leads, many=True).data[0]["stage_label"] == "New"
        lead_stage_labels_set(labels={"NEW": "Fresh"})
        assert LeadSerializer(leads, many=True).data[0]["stage_label"] == "Fresh"
        assert _dumped(LeadSerializer, leads) == _dumped(DrfWalk, leads)


@pytest.fixture
def more_leads(org, varied_leads, make_lead):
    """varied_leads, plus a converted one, one contacted, one with an empty tag list and a large value."""
    converted = make_lead(name="Converted", stage=Stage.QUALIFIED)
    contacted = make_lead(name="Contacted", value=Decimal("9999999999.99"))
    with schema_context(org.schema_name):
        now = timezone.now()
        Lead.objects.filter(pk=converted.pk).update(converted_at=now)
        Lead.objects.filter(pk=contacted.pk).update(last_contacted_at=now, tags=[])
        return list(Lead.objects.select_related("owner").order_by("id"))


@pytest.mark.parametrize("zone", ["UTC", "America/St_Johns"])
def test_a_page_is_written_out_without_the_plan_and_as_drf_renders_it(org, more_leads, zone):
    with schema_context(org.schema_name), timezone.override(zone):
        serializer = LeadSerializer(more_leads, many=True)
        written = json.dumps(serializer.data, default=str)
        assert "_representation_plan" not in serializer.child.__dict__  # the plan was never needed
        assert written == _dumped(DrfWalk, more_leads)
    rows = json.loads(written)
    assert [list(row) for row in rows] == [list(LeadSerializer.Meta.fields)] * len(rows)
    assert {row["status"] for row in rows} == {"open", "won", "converted"}


def test_what_the_written_row_does_not_cover_takes_the_plan(org, make_lead):
    lead = make_lead(name="In memory")

    def like(**changes: Any) -> Lead:
        fields = {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields if not f.generated}
        return Lead(**{**fields, **changes})

    with schema_context(org.schema_name), timezone.override("Europe/Paris"):
        # a value not read from numeric(12, 2): an int (a new lead's default), one decimal place
        for odd in (like(value=0), like(value=5), like(value=Decimal("1.5"))):
            assert _dumped(LeadSerializer, [odd]) == _dumped(DrfWalk, [odd])
        assert LeadSerializer(like(value=0)).data["value"] == "0.00"
