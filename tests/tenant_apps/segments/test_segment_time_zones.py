"""A segment's periods are reckoned in the zone in force for the member asking: theirs, else the
organization's (the same instant is in another quarter in Auckland than in Los Angeles)."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.leads.models import Lead
from tests.conftest import client_for
from tests.tenant_apps.segments.test_segment_results import one, results_of  # noqa: F401 (fixture)

# 12:00 UTC on March 31st: 01:00 on April 1st in Auckland, 05:00 on March 31st in Los Angeles
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
# 10:00 UTC on March 31st: 23:00 on March 31st in Auckland (its first quarter), 03:00 in Los Angeles
CREATED = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)


@pytest.fixture
def late_in_march(org, make_lead, monkeypatch):
    lead = make_lead(name="Late in March")
    with schema_context(org.schema_name):
        Lead.objects.filter(pk=lead.pk).update(created_at=CREATED)
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return lead


def set_zone(org, name):
    Organization.objects.filter(pk=org.pk).update(time_zone=name)


@pytest.mark.parametrize(
    ("zone", "this_quarter"), [("Pacific/Auckland", []), ("America/Los_Angeles", ["Late in March"])]
)
def test_this_quarter_follows_the_organizations_zone(org, late_in_march, results_of, zone, this_quarter):  # noqa: F811
    set_zone(org, zone)
    assert results_of(one("created_at", "in_period", "this_quarter")) == this_quarter


def test_a_member_in_another_zone_gets_their_own_periods(org, late_in_march, results_of, member, api):  # noqa: F811
    set_zone(org, "America/Los_Angeles")
    manager = member(role=Role.MANAGER)
    with schema_context(org.schema_name):
        User.objects.filter(pk=manager.pk).update(time_zone="Pacific/Auckland")
    client = client_for(org, manager)
    assert results_of(one("created_at", "in_period", "this_quarter"), client=client) == []
    assert results_of(one("created_at", "in_period", "yesterday"), client=client) == ["Late in March"]
    assert results_of(one("created_at", "in_period", "today")) == ["Late in March"]  # the organization's
