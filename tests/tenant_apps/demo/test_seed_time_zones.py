"""The demo organizations are provisioned in time zones of their own, with a member in another one."""

from django_tenants.utils import schema_context

from shared_apps.users.models import User
from tenant_apps.demo import seed


def test_demo_organizations_and_members_get_time_zones(public, monkeypatch):
    monkeypatch.setitem(seed.TIME_ZONES, "demo-tz", "Europe/Berlin")
    organization, _ = seed.seed_organization("demo-tz", "Demo in Berlin")
    assert organization.time_zone == "Europe/Berlin"
    with schema_context(organization.schema_name):
        zones = dict(User.objects.values_list("email", "time_zone"))
    assert zones[seed.member_email("demo-tz", "rep2")] == "Asia/Kolkata"
    assert zones[seed.member_email("demo-tz", "rep1")] == ""  # the organization's
    assert set(seed.TIME_ZONES) >= set(seed.ORGANIZATIONS)
