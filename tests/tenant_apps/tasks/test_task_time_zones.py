"""Tasks in the zone in force: a due time sent without an offset is the member's local time, "overdue" and
"due today" are reckoned at fixed instants in the member's zone (else the organization's)."""

from datetime import UTC, datetime

import pytest
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.tasks import selectors, services
from tenant_apps.tasks.models import Task
from tests.conftest import client_for

LOS_ANGELES, AUCKLAND = "America/Los_Angeles", "Pacific/Auckland"


def set_zone(organization: Organization, name: str) -> None:
    Organization.objects.filter(pk=organization.pk).update(time_zone=name)
    organization.time_zone = name


@pytest.fixture
def rep(member, org):
    return member(role=Role.REP)


def create_over_api(org, user, lead, due_at):
    response = client_for(org, user).post(
        "/api/tasks/", {"title": "Call back", "lead": lead.pk, "due_at": due_at}, format="json"
    )
    assert response.status_code == 201, response.content
    with schema_context(org.schema_name):
        return Task.objects.get(pk=response.json()["id"])


def test_a_due_time_without_offset_is_the_members_local_time(org, rep, make_lead):
    set_zone(org, LOS_ANGELES)
    task = create_over_api(org, rep, make_lead(owner_id=rep.pk), "2026-06-10T23:30:00")
    # 23:30 in Los Angeles (PDT, -7) is 06:30 UTC the next day, not 23:30 UTC
    assert task.due_at == datetime(2026, 6, 11, 6, 30, tzinfo=UTC)

    with schema_context(org.schema_name):
        at_2300_local = datetime(2026, 6, 11, 6, 0, tzinfo=UTC)
        assert list(selectors.task_overdue(actor=rep, now=at_2300_local)) == []
        at_2345_local = datetime(2026, 6, 11, 6, 45, tzinfo=UTC)
        assert [t.pk for t in selectors.task_overdue(actor=rep, now=at_2345_local)] == [task.pk]


def test_a_member_in_another_zone_than_the_organization_gets_their_own(org, rep, make_lead):
    set_zone(org, LOS_ANGELES)
    with schema_context(org.schema_name):
        User.objects.filter(pk=rep.pk).update(time_zone=AUCKLAND)
    rep.time_zone = AUCKLAND
    task = create_over_api(org, rep, make_lead(owner_id=rep.pk), "2026-06-10T23:30:00")
    assert task.due_at == datetime(2026, 6, 10, 11, 30, tzinfo=UTC)  # NZST, +12


def test_due_today_counts_the_members_day_not_utcs(org, rep, make_lead):
    set_zone(org, AUCKLAND)
    lead = make_lead(owner_id=rep.pk)
    with schema_context(org.schema_name):
        for hour in (10, 12):  # 23:00 on March 31st and 01:00 on April 1st in Auckland (NZDT, +13)
            services.task_create(
                actor=rep, title=f"at {hour}", lead_id=lead.pk, due_at=datetime(2026, 3, 31, hour, tzinfo=UTC)
            )
        now = datetime(2026, 3, 31, 20, 0, tzinfo=UTC)  # 09:00 on April 1st in Auckland
        assert [t.title for t in selectors.task_due_today(actor=rep, now=now)] == ["at 12"]
        # the same instant for a member in UTC: it is March 31st, both are due today
        utc_rep = User.objects.get(pk=rep.pk)
        utc_rep.time_zone = "UTC"
        assert sorted(t.title for t in selectors.task_due_today(actor=utc_rep, now=now)) == ["at 10", "at 12"]


def test_the_due_today_filter_is_checked(org, rep):
    client = client_for(org, rep)
    assert client.get("/api/tasks/?due_today=true").status_code == 200
    response = client.get("/api/tasks/?due_today=maybe")
    assert response.status_code == 400 and response.json()["errors"].keys() == {"due_today"}
