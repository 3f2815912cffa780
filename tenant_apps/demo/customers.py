"""Demo customers and the machinery around them, written through the services with the seed clock set to
each step's past moment: converted leads become accounts, contacts and deals (open and won, in the leads'
currencies), with more contacts, tasks (some overdue), notes and calls; plus exchange rates, a sequence,
rules, a disabled webhook endpoint and a pipeline snapshot for every past day. Idempotent: each part is
skipped when its kind of data exists already."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from shared_apps.organizations.context import Organization, organization_context
from shared_apps.users.models import User
from tenant_apps.accounts import services as account_services
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import ActivityType
from tenant_apps.analytics import services as analytics_services
from tenant_apps.automation import services as rule_services
from tenant_apps.automation.models import Rule
from tenant_apps.contacts import services as contact_services
from tenant_apps.currency.models import ExchangeRate
from tenant_apps.demo.clock import Clock, seed_clock
from tenant_apps.demo.leads import FIRST_NAMES, HISTORY_DAYS, LAST_NAMES, Team
from tenant_apps.demo.pipelines import seed_renewals
from tenant_apps.demo.rates import seed_rates
from tenant_apps.leads.conversion import CONVERTIBLE_STAGES, lead_convert
from tenant_apps.leads.models import Lead, Stage
from tenant_apps.opportunities import services as opportunity_services
from tenant_apps.opportunities.models import OpportunityStage
from tenant_apps.sequences import services as sequence_services
from tenant_apps.sequences.models import Sequence
from tenant_apps.tasks import services as task_services
from tenant_apps.webhooks import services as webhook_services
from tenant_apps.webhooks.models import Endpoint

# Most qualified-or-later leads were converted; won ones always (a customer has an account).
CONVERT_SHARE = 0.7
RENEWALS_IN = "acme"
TITLES = ("Head of Operations", "CFO", "IT Manager", "Procurement Lead", "Sales Director", "Office Manager")
TASK_TITLES = ("Send the revised quote", "Book the onboarding call", "Check in after the trial", "Renewal")
ACCOUNT_NOTES = (
    "Quarterly business review went well; they want the reporting add-on.",
    "Billing contact changed; invoices go to finance@ from now on.",
    "Asked for a reference customer in their industry.",
)
SEQUENCE_STEPS = [
    {"subject": "Quick question, {{ lead.name }}", "body": "Hi {{ lead.name }}, is reporting a pain?"},
    {"subject": "Re: Quick question", "body": "Following up: happy to show you in 15 min.", "delay_days": 3},
    {"subject": "Closing the loop", "body": "I will stop here; reply any time.", "delay_days": 7},
]
# A receiver nobody runs: the endpoint shows the webhooks page and stays disabled (it is stored without
# resolving its host, so it exists where private URLs are refused and where DNS is out of reach too).
WEBHOOK_URL = "https://hooks.example.com/leadpulse"


def seed_customers(*, organization: Organization) -> dict[str, int]:
    """Accounts, contacts, deals, tasks, automation and snapshots for an organization with demo leads.
    Returns how many of each part were created (all zero on a second run)."""
    rng = random.Random(f"{organization.slug}:customers")
    created = {
        "accounts": 0,
        "rates": 0,
        "sequences": 0,
        "rules": 0,
        "endpoints": 0,
        "snapshot_rows": 0,
        "renewals": 0,
    }
    with organization_context(organization), transaction.atomic(), seed_clock() as clock:
        team = Team.of_current_schema()
        admin = team.admins[0] if team.admins else None
        now = timezone.now()
        if not ExchangeRate.objects.exists():  # before the snapshots: they hold base-currency figures
            created["rates"] = seed_rates(base=organization.default_currency, today=timezone.localdate(now))
        if not Account.objects.exists():
            created["accounts"] = _accounts(rng, team=team, clock=clock, now=now)
            clock.set(now)  # snapshots are of past days as seen from today, not from the last seeded moment
            created["snapshot_rows"] = _snapshots(now)
        if organization.slug == RENEWALS_IN:  # one organization shows a second deal pipeline
            created["renewals"] = seed_renewals(rng, actor=admin, clock=clock, now=now)
        clock.set(now - timedelta(days=HISTORY_DAYS - 1))
        if admin is not None and not Sequence.objects.exists():
            sequence_services.sequence_create(
                actor=admin,
                name="Cold outreach",
                description="Three touches over ten days.",
                steps=SEQUENCE_STEPS,
            )
            created["sequences"] = 1
        if admin is not None and not Rule.objects.exists():
            created["rules"] = _rules(admin)
        if admin is not None and not Endpoint.objects.exists():
            created["endpoints"] = _endpoint(admin)
    return created


def _after(rng: random.Random, start: datetime, now: datetime, *, days: int) -> datetime:
    """A moment up to `days` after `start`, in the past."""
    at = start + timedelta(hours=rng.randint(1, days * 24))
    return min(at, now - timedelta(hours=rng.randint(1, 48)))


def _accounts(rng: random.Random, *, team: Team, clock: Clock, now: datetime) -> int:
    accounts = 0
    leads = Lead.objects.alive().filter(stage__in=CONVERTIBLE_STAGES, converted_at__isnull=True)
    for lead in leads.select_related("owner").order_by("id"):
        if (lead.stage != Stage.WON and rng.random() >= CONVERT_SHARE) or not lead.company:
            continue
        actor = lead.owner or team.lead()
        at = _after(rng, lead.stage_changed_at, now, days=3)
        clock.set(at)
        conversion = lead_convert(
            lead_id=lead.pk,
            actor=actor,
            create_opportunity=True,
            expected_close_date=(at + timedelta(days=rng.randint(14, 90))).date(),
        )
        accounts += int(conversion.account_created)
        account, opportunity = conversion.account, conversion.opportunity
        for _extra in range(rng.choice((0, 1, 1, 2))):
            clock.set(at := _after(rng, at, now, days=10))
            contact_services.contact_create(
                actor=actor,
                allow_duplicate=True,
                name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                title=rng.choice(TITLES),
                account_id=account.pk,
                owner_id=conversion.contact.owner_id,
            )
        clock.set(at := _after(rng, at, now, days=7))
        account_services.account_activity_log(
            account_id=account.pk,
            actor=actor,
            type=ActivityType.CALL,
            subject="Check-in call",
            body="Talked through rollout and who else should get access.",
            occurred_at=at,
        )
        if rng.random() < 0.4:
            clock.set(at := _after(rng, at, now, days=20))
            note = rng.choice(ACCOUNT_NOTES)
            account_services.account_note_add(account_id=account.pk, actor=actor, body=note)
        if opportunity is not None and opportunity.stage not in (OpportunityStage.CLOSED_WON,):
            if rng.random() < 0.15:  # some open deals fell through after conversion
                clock.set(at := _after(rng, at, now, days=30))
                opportunity_services.opportunity_transition(
                    opportunity_id=opportunity.pk,
                    stage=OpportunityStage.CLOSED_LOST,
                    actor=actor,
                    reason="Budget moved to next year",
                    lost_reason="No budget",
                )
            else:
                _tasks(rng, clock=clock, at=at, now=now, actor=actor, opportunity_id=opportunity.pk)
        elif rng.random() < 0.3:  # renewals of won deals
            _tasks(rng, clock=clock, at=at, now=now, actor=actor, account_id=account.pk)
    return accounts


def _tasks(
    rng: random.Random, *, clock: Clock, at: datetime, now: datetime, actor: User | None, **anchor: int
) -> None:
    """One or two follow-ups: done, still open and due soon, or open and overdue."""
    for _number in range(rng.choice((1, 2))):
        clock.set(at := _after(rng, at, now, days=10))
        due = at + timedelta(days=rng.randint(2, 21))
        task = task_services.task_create(
            actor=actor,
            title=rng.choice(TASK_TITLES),
            due_at=due,
            **anchor,
        )
        if due < now and rng.random() < 0.6:
            clock.set(min(due, now - timedelta(hours=1)))
            task_services.task_complete(task_id=task.pk, actor=actor)


def _snapshots(now: datetime) -> int:
    """The pipeline of every past day, rebuilt from the back-dated activity log, and today's."""
    analytics_services.transitions_ingest()
    today = timezone.localdate(now)
    rows = analytics_services.snapshot_backfill(
        date_from=today - timedelta(days=HISTORY_DAYS), date_to=today - timedelta(days=1)
    )
    return rows + analytics_services.snapshot_take(day=today)


def _rules(admin: User) -> int:
    rules = [
        {
            "name": "Idle two weeks: follow up",
            "trigger": {"type": "idle", "days": 14},
            "actions": [{"type": "create_task", "title": "Follow up", "due_in_days": 1, "assignee": "owner"}],
        },
        {
            "name": "Won: tag as customer",
            "trigger": {"type": "stage_entered", "stage": "WON"},
            "actions": [{"type": "add_tag", "tag": "customer"}],
        },
    ]
    for rule in rules:
        rule_services.rule_create(actor=admin, **rule)
    return len(rules)


def _endpoint(admin: User) -> int:
    """Stored disabled: it shows the webhooks page without calling anyone."""
    webhook_services.endpoint_create_disabled(
        actor=admin,
        url=WEBHOOK_URL,
        event_types=["lead.*"],
        description="Demo receiver (disabled)",
        reason="A demo endpoint: point it at your receiver, then enable it.",
    )
    return 1
