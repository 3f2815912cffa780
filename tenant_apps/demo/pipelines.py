"""A second deal pipeline for one demo organization: renewals of the accounts it won, in stages of its own
(the default "Sales" pipeline holds the converted deals). Written through the same services as members'."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from shared_apps.users.models import User
from tenant_apps.accounts.models import Account
from tenant_apps.demo.clock import Clock
from tenant_apps.opportunities import pipelines as pipeline_services
from tenant_apps.opportunities import services as opportunity_services
from tenant_apps.opportunities.models import Pipeline

RENEWALS = "Renewals"
STAGES = [
    {"name": "Renewal due", "probability": 60, "rotting_days": 30},
    {"name": "Quote sent", "probability": 80, "rotting_days": 14},
    {"name": "Renewed", "probability": 100, "is_won": True},
    {"name": "Churned", "probability": 0, "is_lost": True},
]
DEALS = 12


def seed_renewals(rng: random.Random, *, actor: User | None, clock: Clock, now: datetime) -> int:
    """The Renewals pipeline and a renewal deal for up to DEALS accounts, some quoted, renewed or churned.
    Returns the deals created (none when the pipeline exists already)."""
    if Pipeline.objects.filter(name=RENEWALS).exists():
        return 0
    pipeline = pipeline_services.pipeline_create(name=RENEWALS, stages=STAGES)
    stages = {stage.name: stage.pk for stage in pipeline.stages.all()}
    created = 0
    for account in Account.objects.alive().order_by("id")[:DEALS]:
        clock.set(now - timedelta(days=rng.randint(20, 60)))
        deal = opportunity_services.opportunity_create(
            actor=actor,
            name=f"{account.name} renewal",
            account_id=account.pk,
            amount=rng.choice((6000, 9000, 12000, 18000)),
            pipeline=pipeline.pk,
            owner_id=account.owner_id,
            expected_close_date=(now + timedelta(days=rng.randint(5, 90))).date(),
        )
        created += 1
        roll = rng.random()
        if roll < 0.6:
            clock.set(now - timedelta(days=rng.randint(3, 19)))
            opportunity_services.opportunity_transition(
                opportunity_id=deal.pk, stage=stages["Quote sent"], actor=actor
            )
        if roll < 0.3:
            clock.set(now - timedelta(days=rng.randint(1, 2)))
            opportunity_services.opportunity_transition(
                opportunity_id=deal.pk, stage=stages["Renewed"], actor=actor
            )
        elif roll > 0.9:
            clock.set(now - timedelta(days=rng.randint(1, 2)))
            opportunity_services.opportunity_transition(
                opportunity_id=deal.pk,
                stage=stages["Churned"],
                actor=actor,
                lost_reason="Chose a competitor",
            )
    clock.set(now)
    return created
