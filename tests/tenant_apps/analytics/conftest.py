"""A small pipeline built through the services at chosen times, with its expected figures worked out by
hand in the tests.

Day numbers are days after T0 (Monday 2026-01-05, 09:00 UTC); "today" is T0 + 30 (2026-02-04).

    lead  source    owner  value  created  stage changes (day)                              now
    L1    web       A      1000   0        CONTACTED 1, QUALIFIED 3, PROPOSAL 6,            WON
                                           NEGOTIATION 10, WON 15
    L2    web       B      2000   0        CONTACTED 2, LOST 4                              LOST
    L3    referral  A       500   1        CONTACTED 2, QUALIFIED 5                         QUALIFIED
    L4    referral  -       300   1        -                                                NEW
    L5    ads       B       800   0        LOST 1, NEW 3, CONTACTED 4                       CONTACTED
    L6    web       A       700   0        CONTACTED 1, then deleted on day 20              (deleted)
    L7    web       B      4000   0        CONTACTED 1, QUALIFIED 2, PROPOSAL 3,            WON
                                           NEGOTIATION 4, WON 5
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.organizations.models import Organization
from shared_apps.users.models import Role, User
from tenant_apps.leads import services as lead_services
from tenant_apps.leads.models import Lead

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TODAY = (T0 + timedelta(days=30)).date()
JANUARY = {"date_from": "2026-01-01", "date_to": "2026-01-31"}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


class Clock:
    """Stands in for django.utils.timezone.now, so services stamp rows with chosen times."""

    def __init__(self) -> None:
        self.now = day(30)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    return clock


@dataclass
class Dataset:
    organization: Organization
    a: User
    b: User
    leads: dict[str, Lead] = field(default_factory=dict)


def build_lead(
    clock: Clock,
    *,
    created: float,
    steps: list[tuple[str, float]],
    actor: User | None = None,
    **fields: Any,
) -> Lead:
    """Create a lead at day `created`, then move it through `steps` [(stage, day), ...]."""
    clock.now = day(created)
    lead = lead_services.lead_create(actor=actor, allow_duplicate=True, **fields)
    for stage, at in steps:
        clock.now = day(at)
        lead = lead_services.lead_transition(lead_id=lead.pk, to_stage=stage, actor=actor)
    return lead


@pytest.fixture
def pipeline(org: Organization, member: Callable[..., User], clock: Clock) -> Iterator[Dataset]:
    """The table above in acme, through the services; the test body runs in acme's schema at day 30."""
    a, b = member(role=Role.REP), member(role=Role.REP)
    data = Dataset(org, a, b)
    with schema_context(org.schema_name):
        rows: list[tuple[str, str, User | None, str, float, list[tuple[str, float]]]] = [
            (
                "L1",
                "web",
                a,
                "1000",
                0,
                [("CONTACTED", 1), ("QUALIFIED", 3), ("PROPOSAL", 6), ("NEGOTIATION", 10), ("WON", 15)],
            ),
            ("L2", "web", b, "2000", 0, [("CONTACTED", 2), ("LOST", 4)]),
            ("L3", "referral", a, "500", 1, [("CONTACTED", 2), ("QUALIFIED", 5)]),
            ("L4", "referral", None, "300", 1, []),
            ("L5", "ads", b, "800", 0, [("LOST", 1), ("NEW", 3), ("CONTACTED", 4)]),
            ("L6", "web", a, "700", 0, [("CONTACTED", 1)]),
            (
                "L7",
                "web",
                b,
                "4000",
                0,
                [("CONTACTED", 1), ("QUALIFIED", 2), ("PROPOSAL", 3), ("NEGOTIATION", 4), ("WON", 5)],
            ),
        ]
        for name, source, owner, value, created, steps in rows:
            data.leads[name] = build_lead(
                clock,
                created=created,
                steps=steps,
                name=name,
                source=source,
                owner_id=owner.pk if owner else None,
                value=value,
            )
        clock.now = day(20)
        lead_services.lead_delete(lead_id=data.leads["L6"].pk, actor=None)
        clock.now = day(30)
        yield data
