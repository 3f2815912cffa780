"""The demo leads: every stage, valid stage histories, real timelines, the same data on every run, and a
second run that adds nothing."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.demo.leads import seed_leads
from tenant_apps.leads.models import TRANSITIONS, Lead, Stage

COUNT = 40


@pytest.fixture
def team(member):
    """Two reps and a manager besides acme's admin, as in the demo organizations."""
    return [member(role=Role.REP), member(role=Role.REP), member(role=Role.MANAGER)]


@pytest.fixture
def seeded(org, team):
    assert seed_leads(organization=org, count=COUNT) == COUNT
    with schema_context(org.schema_name):
        yield org


def snapshot(org):
    with schema_context(org.schema_name):
        leads = list(
            Lead.objects.order_by("id").values_list(
                "name", "email", "company", "stage", "source", "value", "currency", "owner__email", "tags"
            )
        )
        activities = list(
            Activity.objects.order_by("id").values_list("type", "subject", "occurred_at__date", "message_id")
        )
    return leads, activities


def test_every_stage_is_represented(seeded):
    stages = Counter(Lead.objects.values_list("stage", flat=True))
    assert Lead.objects.count() == COUNT
    assert set(stages) == set(Stage.values)


def test_every_stage_history_is_a_valid_chain_from_new_to_the_current_stage(seeded):
    changes = defaultdict(list)
    for lead_id, metadata in (
        Activity.objects.filter(type=ActivityType.STAGE_CHANGE)
        .order_by("id")
        .values_list("lead_id", "metadata")
    ):
        changes[lead_id].append(metadata)
    for lead in Lead.objects.all():
        current = Stage.NEW
        for change in changes[lead.pk]:
            assert change["from"] == current, (lead.pk, changes[lead.pk])
            assert change["to"] in TRANSITIONS[current]
            current = change["to"]
        assert current == lead.stage, (lead.pk, changes[lead.pk])


def test_timelines_have_calls_meetings_notes_and_threaded_emails(seeded):
    types = Counter(Activity.objects.values_list("type", flat=True))
    assert types[ActivityType.CREATED] == COUNT
    for logged in (ActivityType.CALL, ActivityType.MEETING, ActivityType.NOTE, ActivityType.EMAIL):
        assert types[logged] > 0, logged
    # notes went through note_create, which links each NOTE activity to its note
    notes = Activity.objects.filter(type=ActivityType.NOTE).values_list("metadata", flat=True)
    assert all(metadata.get("note_id") for metadata in notes)
    emails = list(Activity.objects.filter(type=ActivityType.EMAIL).order_by("id"))
    threads = Counter(email.thread_id for email in emails)
    assert all(count >= 2 for count in threads.values())  # every thread has at least one reply
    roots = {email.message_id for email in emails if email.message_id == email.thread_id}
    assert roots == set(threads)
    assert {email.metadata["direction"] for email in emails} == {"inbound", "outbound"}
    # every step of a story happens after its lead was created, and in the past
    now = timezone.now()
    for at, lead_created in Activity.objects.values_list("occurred_at", "lead__created_at"):
        assert lead_created <= at < now


def test_histories_are_back_dated_over_months(seeded):
    created = Lead.objects.values_list("created_at", flat=True)
    assert timezone.now() - min(created) > timedelta(days=90)
    # time in stage: the last stage change of a lead is when its stage_changed_at says, not seeding time
    moved = Lead.objects.exclude(stage=Stage.NEW)
    assert all(timezone.now() - lead.stage_changed_at > timedelta(hours=1) for lead in moved)
    stamps = Activity.objects.values_list("occurred_at", "created_at")
    assert all(at == created_at for at, created_at in stamps)  # written at the time it happened


def test_leads_are_owned_mostly_by_reps(seeded, team):
    owners = Counter(Lead.objects.values_list("owner__role", flat=True))
    assert set(owners) <= {Role.REP, Role.MANAGER, None}
    assert owners[Role.REP] > owners[Role.MANAGER] > 0


def test_the_same_organization_gets_the_same_data(org, team):
    with pytest.raises(RuntimeError), transaction.atomic():
        seed_leads(organization=org, count=COUNT)
        first = snapshot(org)
        raise RuntimeError("roll the first seed back")
    seed_leads(organization=org, count=COUNT)
    assert snapshot(org) == first


def test_a_second_run_adds_nothing(seeded):
    before = snapshot(seeded)
    assert seed_leads(organization=seeded, count=COUNT) == 0
    assert snapshot(seeded) == before
