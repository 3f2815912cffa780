"""Fixtures of the rep-walls suite: acme with reps_see_all_leads off, its admin, two reps and a viewer with
every kind of credential, and rep2's records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tests.isolation.support import Credentials, Records, call, credentials_of
from tests.tenant_apps.access.walls.support import (
    HIDDEN_CALL,
    HIDDEN_NOTE,
    MARKER,
    Frame,
    Hidden,
    HiddenRecords,
)

DUPLICATE_EMAIL = "same-person@dupes.test"


@pytest.fixture
def walled(org: Organization) -> Organization:
    """Acme as the walls are meant for: reps see their own and unassigned leads and deals only."""
    assert not org.reps_see_all_leads, "the suite needs acme to keep reps_see_all_leads off"
    return org


@pytest.fixture
def admin(walled: Organization, member: Callable[..., User]) -> Credentials:
    return credentials_of(walled, member(role=Role.ADMIN))


@pytest.fixture
def rep1(walled: Organization, member: Callable[..., User]) -> Credentials:
    return credentials_of(walled, member(role=Role.REP))


@pytest.fixture
def rep2(walled: Organization, member: Callable[..., User]) -> Credentials:
    return credentials_of(walled, member(role=Role.REP))


@pytest.fixture
def viewer(walled: Organization, member: Callable[..., User]) -> Credentials:
    return credentials_of(walled, member(role=Role.VIEWER))


@pytest.fixture
def hidden(walled: Organization, admin: Credentials, rep2: Credentials) -> HiddenRecords:
    """rep2's records (a factory per kind, as the isolation suite's Records)."""
    return HiddenRecords(walled, admin, rep2)


@pytest.fixture
def shared(walled: Organization, admin: Credentials) -> Records:
    """Unassigned records every member sees (the viewer's targets)."""
    return Records(walled, admin)


@pytest.fixture
def frame(walled: Organization, hidden: HiddenRecords, rep1: Credentials) -> Frame:
    account = hidden.account()
    rep1_lead = hidden.post(
        "/api/leads/",
        {
            "name": "Rep1's lead",
            "email": DUPLICATE_EMAIL,
            "owner": rep1.user.pk,
            "allow_duplicate": True,
        },
    )["id"]
    # rep1's own segment of every lead (a segment is its author's)
    headers = rep1.kinds()["bearer token"]
    body = {"name": "All", "record_type": "lead"}
    segment = call(walled, "POST", "/api/segments/", headers=headers, body=body)
    assert segment.status_code == 201, segment.content
    return Frame(
        account=account,
        contact=hidden.post("/api/contacts/", {"name": "Acme contact", "account": account})["id"],
        sequence=hidden.sequence(),
        segment=segment.json()["id"],
        rep1_lead=rep1_lead,
    )


def hide(hidden: HiddenRecords, frame: Frame) -> Hidden:
    """rep2's lead and deal in the frame, each with a note, a call and a task; the lead enrolled in the
    frame's sequence and a duplicate of rep1's lead; the deal on the frame's account and contact."""
    lead = hidden.post(
        "/api/leads/",
        {
            "name": f"{MARKER} lead",
            "company": f"{MARKER} company",
            "email": DUPLICATE_EMAIL,
            "owner": hidden.owner.user.pk,
            "allow_duplicate": True,
        },
    )["id"]
    deal = hidden.post(
        "/api/opportunities/",
        {
            "name": f"{MARKER} deal",
            "account": frame.account,
            "primary_contact": frame.contact,
            "owner": hidden.owner.user.pk,
            "amount": "12345",  # a high-value deal closing this quarter (a preset's)
            "expected_close_date": date.today().isoformat(),
        },
    )["id"]
    for path in (f"/api/leads/{lead}/", f"/api/opportunities/{deal}/"):
        hidden.post(f"{path}notes/", HIDDEN_NOTE)
        hidden.post(f"{path}activities/", HIDDEN_CALL)
    hidden.post("/api/tasks/", {"title": f"{MARKER} task", "lead": lead, "due_at": "2020-01-01T00:00:00Z"})
    hidden.post(
        "/api/tasks/", {"title": f"{MARKER} task", "opportunity": deal, "due_at": "2020-01-01T00:00:00Z"}
    )
    hidden.post(f"/api/sequences/{frame.sequence}/enroll/", {"lead": lead})
    return Hidden(lead=lead, opportunity=deal)
