"""The console's plans page: operators define plans, change their limits and move organizations onto them."""

from __future__ import annotations

import pytest
from django.test import Client

from shared_apps.audit.models import AuditEvent
from shared_apps.organizations.models import Organization, PlanDefinition
from tests.conftest import host_of


@pytest.fixture
def console(operator) -> Client:
    client = Client(HTTP_HOST=host_of(None))
    client.force_login(operator)
    return client


def test_the_plans_page_lists_every_plan_with_its_limits(console):
    PlanDefinition.objects.filter(slug="team").update(max_records=4321)
    response = console.get("/plans/")
    assert response.status_code == 200
    body = response.content.decode()
    assert all(name in body for name in ("Free", "Team", "Business", "Enterprise"))
    assert 'value="4321"' in body


def test_the_plans_page_is_for_operators_only(public):
    response = Client(HTTP_HOST=host_of(None)).get("/plans/")
    assert (response.status_code, response["Location"]) == (302, "/sign-in/?next=/plans/")


def test_an_operator_defines_a_plan_and_changes_its_limits(console):
    response = console.post("/plans/", {"slug": "starter", "name": "Starter", "max_members": "5"})
    assert response.status_code == 302
    plan = PlanDefinition.objects.get(slug="starter")
    assert (plan.max_members, plan.max_records) == (5, None)

    response = console.post("/plans/starter/", {"starter-name": "Starter+", "starter-max_records": "100"})
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.name, plan.max_members, plan.max_records) == ("Starter+", None, 100)
    assert set(AuditEvent.objects.filter(target_repr="starter").values_list("action", flat=True)) == {
        "plan.created",
        "plan.updated",
    }


def test_bad_plan_input_shows_on_the_form(console):
    response = console.post("/plans/", {"slug": "Bad Slug", "name": "Bad", "max_records": "-3"})
    assert response.status_code == 400
    assert not PlanDefinition.objects.filter(name="Bad").exists()


def test_an_operator_moves_an_organization_to_another_plan(console, org):
    response = console.post("/plans/move/", {"organization": "acme", "plan": "business"})
    assert response.status_code == 302
    assert Organization.objects.get(slug="acme").plan == "business"
    response = console.post("/plans/move/", {"organization": "acme", "plan": "gold"}, follow=True)
    assert Organization.objects.get(slug="acme").plan == "business"
    assert "Choose an organization and a defined plan" in response.content.decode()
