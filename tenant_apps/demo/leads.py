"""Demo leads with believable timelines, written only through the services (as a member's clicks would be).

Everything is drawn from `random.Random(<organization slug>)`, so every run builds the same leads for the same
members. Each lead's story (creation, triage, calls, stage changes, emails, notes) is spread over the past six
months: the seed clock is set to each step's moment before the service writes it, so created_at, time in stage
and the timeline read as if members had worked the leads day by day.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from shared_apps.core.db import connection
from shared_apps.organizations.context import Organization, organization_context
from shared_apps.users.models import Role, User
from tenant_apps.activities import services as activity_services
from tenant_apps.activities.models import ActivityType
from tenant_apps.demo.clock import Clock, seed_clock
from tenant_apps.leads import services as lead_services
from tenant_apps.leads.models import OPEN_STAGES, Lead, Source, Stage

# progress(organization slug, leads written, leads to write)
Progress = Callable[[str, int, int], None]
PROGRESS_EVERY = 25

HISTORY_DAYS = 180
# The funnel as a demo should show it: many early leads, fewer late ones, plenty closed either way.
STAGE_WEIGHTS = {
    Stage.NEW: 20,
    Stage.CONTACTED: 17,
    Stage.QUALIFIED: 13,
    Stage.PROPOSAL: 10,
    Stage.NEGOTIATION: 8,
    Stage.WON: 13,
    Stage.LOST: 19,
}
FORWARD = (Stage.NEW, Stage.CONTACTED, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.WON)
# Where lost deals drop out (weights for OPEN_STAGES, in order): mostly early.
LOST_FROM_WEIGHTS = (30, 30, 20, 12, 8)
SOURCE_WEIGHTS = {
    Source.WEB: 30,
    Source.OUTBOUND: 18,
    Source.REFERRAL: 15,
    Source.ADS: 15,
    Source.EVENT: 12,
    Source.IMPORT: 7,
    Source.OTHER: 3,
}
# Leads that arrive on their own (forms, ad integrations) have no creator and wait for triage.
SELF_SERVE_SOURCES = (Source.WEB, Source.ADS)
# (tag, deal size range, weight)
TIERS = (("smb", 2_000, 15_000, 50), ("mid-market", 15_000, 60_000, 35), ("enterprise", 60_000, 250_000, 15))
INDUSTRY_TAGS = ("saas", "manufacturing", "healthcare", "fintech", "retail", "logistics", "education")
EXTRA_TAGS = ("hot", "renewal", "upsell", "partner", "priority", "budget-approved", "champion")
SOURCE_TAGS = {Source.EVENT: "trade-show", Source.ADS: "q3-campaign", Source.REFERRAL: "partner-referral"}
OTHER_CURRENCIES = ("EUR", "GBP", "CAD")

# fmt: off
FIRST_NAMES = (
    "Amelia", "Ben", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Keiko", "Liam",
    "Maya", "Nikhil", "Olivia", "Pablo", "Quinn", "Rosa", "Samir", "Tara", "Umar", "Valerie", "Wen", "Xavier",
    "Yara", "Zoe", "Aaron", "Bianca", "Chen", "Diego", "Erin", "Felix", "Hannah", "Ivan", "Julia", "Kofi",
    "Lena", "Marco", "Nora", "Oscar",
)
LAST_NAMES = (
    "Anders", "Baker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kowalski", "Lopez", "Muller", "Nakamura", "Okafor", "Patel", "Quinn", "Rossi", "Schmidt", "Tanaka",
    "Usman", "Varga", "Walsh", "Xu", "Yilmaz", "Zhang", "Brennan", "Castillo", "Devlin", "Ferreira",
)
COMPANIES = (
    "Northwind Logistics", "Bluepeak Software", "Cobalt Health", "Dunmore Foods", "Evergreen Retail",
    "Fairfield Capital", "Granite Works", "Harborline Freight", "Ironclad Security", "Juniper Analytics",
    "Keystone Manufacturing", "Lumen Labs", "Meridian Insurance", "Nimbus Cloud", "Orchid Pharma",
    "Pinnacle Education", "Quarry Materials", "Redwood Partners", "Silverline Telecom", "Tidewater Energy",
    "Upland Farms", "Vantage Media", "Westbrook Hotels", "Yellowstone Outdoor", "Zenith Robotics",
    "Atlas Textiles", "Brightside Dental", "Crescent Bank", "Driftwood Studios", "Ember Coffee",
)
# fmt: on
COMPANY_SUFFIXES = ("Inc.", "LLC", "Ltd", "GmbH", "", "", "")
AREA_CODES = ("212", "312", "415", "512", "617", "646", "702", "737", "801", "917")
LOSS_REASONS = (
    "Went with a competitor",
    "No budget this year",
    "No response after several follow-ups",
    "Timing: revisit next quarter",
    "Not a fit: needs on-premise hosting",
    "Project cancelled",
)
WIN_NOTES = (
    "Signed the annual plan. Kickoff call booked with their ops lead.",
    "Contract signed after legal review; onboarding starts next month.",
    "Closed: they picked us for the integrations and the reporting.",
)
NO_ANSWER = "No answer; left a voicemail."
EMAIL_THREADS = {
    "proposal": (
        "Proposal for {company}",
        (
            "Hi, as promised, here is the proposal: pricing for the seats we discussed and onboarding.",
            "Thanks! Looks good overall. Could you clarify annual vs monthly pricing?",
            "Sure: annual billing saves 15%. I have updated the proposal accordingly.",
            "Great, I will take it to our finance team this week.",
        ),
    ),
    "follow_up": (
        "Following up on our call",
        (
            "Thanks for your time today. As discussed, here is a short overview and two customer stories.",
            "Thanks, I will share it with my manager and get back to you.",
        ),
    ),
}
OPEN_NOTES = (
    "Decision maker is the VP of Sales; our contact is an evaluator.",
    "Prefers email over calls. Follow up on Tuesdays.",
    "Currently on spreadsheets; pain is the weekly pipeline report.",
    "Asked about SSO and data residency in the EU.",
    "Budget cycle starts in January.",
)


@dataclass(frozen=True)
class Team:
    """The members who own and work leads, by role (viewers own nothing)."""

    reps: list[User]
    managers: list[User]
    admins: list[User]

    @classmethod
    def of_current_schema(cls) -> Team:
        members = list(User.objects.filter(is_active=True).order_by("email"))
        return cls(
            reps=[user for user in members if user.role == Role.REP],
            managers=[user for user in members if user.role == Role.MANAGER],
            admins=[user for user in members if user.role == Role.ADMIN],
        )

    def lead(self) -> User | None:
        """Who triages, reassigns and steps in for unassigned leads."""
        for group in (self.managers, self.admins, self.reps):
            if group:
                return group[0]
        return None


@dataclass
class _Timed:
    """Hands out a lead's past moments in order, so its timeline reads as one story."""

    moments: list[datetime] = field(default_factory=list)

    def next(self) -> datetime:
        return self.moments.pop(0)


def seed_leads(*, organization: Organization, count: int, progress: Progress | None = None) -> int:
    """Give the organization `count` demo leads with timelines, unless it has leads already (then nothing
    is written: running the demo seed again keeps existing data). Returns how many leads were created.
    `progress` is told every PROGRESS_EVERY leads (they show once the whole seed commits)."""
    slug = organization.slug
    rng = random.Random(slug)
    with organization_context(organization), transaction.atomic(), seed_clock() as clock:
        # One transaction: the services' own atomics become savepoints (no commit per write, which is most of
        # the cost), and a failed seed leaves no half-seeded organization that the check below would skip.
        with connection.cursor() as cursor:
            # two seeds at once (two `make up`s) would both find no leads: the second waits, then finds some
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"demo-seed:{slug}"])
        if Lead.objects.exists():
            return 0
        team = Team.of_current_schema()
        identities = _Identities(rng)
        now = timezone.now()
        for number, final in enumerate(_final_stages(rng, count), start=1):
            _seed_lead(
                rng,
                number=number,
                final=final,
                team=team,
                identities=identities,
                currency=organization.default_currency,
                slug=slug,
                now=now,
                clock=clock,
            )
            if progress is not None and (number % PROGRESS_EVERY == 0 or number == count):
                progress(slug, number, count)
    return count


def _final_stages(rng: random.Random, count: int) -> list[str]:
    # Every stage at least once (for small counts too), the rest drawn by the funnel's weights.
    stages: list[str] = list(Stage.values)[:count]
    stages += rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()), k=count - len(stages))
    rng.shuffle(stages)
    return stages


def _forward(stage: str) -> list[str]:
    """The stages entered after NEW on the way to `stage`."""
    return list(FORWARD[1 : FORWARD.index(stage) + 1])


def _path(rng: random.Random, final: str) -> list[str]:
    """Every stage the lead enters after creation, in order: a valid walk of TRANSITIONS ending at `final`."""
    if final == Stage.LOST:
        lost_at = rng.choices(OPEN_STAGES, weights=LOST_FROM_WEIGHTS)[0]
        return [*_forward(lost_at), Stage.LOST]
    path = _forward(final)
    if rng.random() < 0.08:  # lost once early on, then re-opened: LOST -> NEW is the only way back
        lost_at = rng.choice((Stage.NEW, Stage.CONTACTED))
        path = [*_forward(lost_at), Stage.LOST, Stage.NEW, *path]
    return path


class _Identities:
    """Unique names, emails and phones: seeded leads are created with allow_duplicate=True (no lookups per
    lead), so they must not be duplicates that the app's own detection would flag afterwards."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people: set[tuple[str, str]] = set()
        self.phones: set[str] = set()

    def person(self) -> tuple[str, str, str]:
        """(name, company, email); the lists make ~36,000 distinct people, far more than a demo needs."""
        while True:
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            base = self.rng.choice(COMPANIES)
            company = f"{base} {self.rng.choice(COMPANY_SUFFIXES)}".strip()
            if (f"{first} {last}", base) not in self.people:
                self.people.add((f"{first} {last}", base))
                domain = base.lower().replace(" ", "-") + ".example"
                return f"{first} {last}", company, f"{first}.{last}@{domain}".lower()

    def phone(self, currency: str) -> str:
        """A fictional number in the currency's country; none once a few draws only find taken ones."""
        for _attempt in range(20):
            if currency == "GBP":  # Ofcom's drama range
                phone = f"+44 20 7946 {self.rng.randint(0, 999):04d}"
            elif currency == "EUR":
                phone = f"+49 30 5550 {self.rng.randint(0, 9999):04d}"
            else:  # 555-0100 to 555-0199 are fictional in every North American area code
                phone = f"+1 ({self.rng.choice(AREA_CODES)}) 555-01{self.rng.randint(0, 99):02d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone
        return ""


def _moments(rng: random.Random, now: datetime, count: int) -> list[datetime]:
    """`count` past moments in working hours, oldest first; leads with more history started further back."""
    oldest = rng.randint(min(HISTORY_DAYS, max(3, count * rng.randint(4, 12))), HISTORY_DAYS)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # (days ago, quarter hour of the day) from yesterday backwards: nothing may land in the future, where a
    # contact would not count as one
    points = [(rng.randint(1, oldest), rng.randint(8 * 4, 18 * 4 - 1)) for _ in range(count)]
    points.sort(key=lambda point: (-point[0], point[1]))
    return [
        today - timedelta(days=days_ago) + timedelta(minutes=15 * quarter) for days_ago, quarter in points
    ]


def _seed_lead(
    rng: random.Random,
    *,
    number: int,
    final: str,
    team: Team,
    identities: _Identities,
    currency: str,
    slug: str,
    now: datetime,
    clock: Clock,
) -> None:
    path = _path(rng, final)
    source = rng.choices(list(SOURCE_WEIGHTS), weights=list(SOURCE_WEIGHTS.values()))[0]
    self_serve = source in SELF_SERVE_SOURCES
    owner = _owner(rng, team, unassigned=0.7 if self_serve else 0.08)
    # Self-serve leads wait unassigned until a manager triages them, which they do before anyone calls.
    triaged_to = _owner(rng, team, unassigned=0) if owner is None and path else None
    if rng.random() >= 0.85:
        currency = rng.choice([code for code in OTHER_CURRENCIES if code != currency])
    tier, low, high, _weight = rng.choices(TIERS, weights=[tier[3] for tier in TIERS])[0]
    value = Decimal(rng.randrange(low, high, 500))
    if final == Stage.NEW and rng.random() < 0.4:
        value = Decimal(0)  # nobody has talked to them yet: no deal size
    tags = [tier, rng.choice(INDUSTRY_TAGS)]
    tags += rng.sample(EXTRA_TAGS, k=rng.choice((0, 0, 1, 2)))
    if source in SOURCE_TAGS:
        tags.append(SOURCE_TAGS[source])
    name, company, email = identities.person()
    reaches_proposal = Stage.PROPOSAL in path
    # Every real deal has a contact email; some early leads only left a phone number or a business card.
    has_email = reaches_proposal or rng.random() < 0.85
    phone = identities.phone(currency) if rng.random() < 0.7 else ""
    if self_serve:  # came in through a form or an ad integration: nobody created it
        creator = None
    elif source == Source.IMPORT and team.admins:  # admins run the imports
        creator = team.admins[0]
    else:
        creator = owner or team.lead()

    story = _Story(rng=rng, team=team, owner=owner, slug=slug, number=number, has_email=has_email)
    story.plan(path=path, final=final, triaged_to=triaged_to)
    # the first moment is the lead's creation, the rest are its story's steps, in order
    moments = _Timed(_moments(rng, now, 1 + story.timed_count))
    clock.set(moments.next())
    lead = lead_services.lead_create(
        actor=creator,
        allow_duplicate=True,
        name=name,
        company=company,
        email=email if has_email else "",
        phone=phone,
        source=source,
        value=value,
        currency=currency,
        owner_id=owner.pk if owner else None,
        tags=tags,
        score=len(set(path)) * 10 + rng.randint(0, 25),
    )
    story.play(lead, moments, clock)


def _owner(rng: random.Random, team: Team, *, unassigned: float) -> User | None:
    if rng.random() < unassigned:
        return None
    # reps own most leads, managers keep some accounts themselves
    if team.reps and (not team.managers or rng.random() < 0.8):
        return rng.choice(team.reps)
    return rng.choice(team.managers) if team.managers else team.lead()


@dataclass
class _Story:
    """One lead's timeline: planned first (how many past moments it needs), then played through the services
    in order, so ids follow the story and stage changes interleave with the calls that caused them."""

    rng: random.Random
    team: Team
    owner: User | None
    slug: str
    number: int
    has_email: bool
    lead: Lead = field(init=False)
    steps: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    timed_count: int = 0

    def _add(self, kind: str, *, timed: int = 1, **arguments: Any) -> None:
        self.steps.append((kind, arguments))
        self.timed_count += timed

    def _log(self, type: str, subject: str, body: str = "", **metadata: Any) -> None:
        self._add("log", type=type, subject=subject, body=body, metadata=metadata)

    def plan(self, *, path: list[str], final: str, triaged_to: User | None) -> None:
        rng = self.rng
        if triaged_to is not None:
            self._add("assign", owner=triaged_to)
        if not path and rng.random() < 0.3:  # still NEW: a first attempt that did not get through
            self._log(ActivityType.CALL, "Call attempt", NO_ANSWER, outcome="no_answer")
        loss_reason = ""
        for index, stage in enumerate(path):
            reason = ""
            if stage == Stage.CONTACTED:
                if rng.random() < 0.3:
                    self._log(ActivityType.CALL, "Call attempt", NO_ANSWER, outcome="no_answer")
                self._log(
                    ActivityType.CALL,
                    "Intro call",
                    "Walked through their current process and pain points.",
                    outcome="connected",
                    duration_minutes=rng.choice((10, 15, 20, 30)),
                )
            elif stage == Stage.QUALIFIED:
                self._log(
                    ActivityType.MEETING,
                    "Discovery meeting",
                    "Confirmed budget, timeline and who signs.",
                    duration_minutes=rng.choice((30, 45, 60)),
                )
            elif stage == Stage.PROPOSAL:
                if rng.random() < 0.6:
                    self._log(
                        ActivityType.MEETING, "Product demo", "Demo for their team.", duration_minutes=60
                    )
                if rng.random() < 0.3:  # the scope grew or shrank once they saw the demo
                    self._add("revalue", factor=rng.choice(("0.8", "1.2", "1.5")))
            elif stage == Stage.NEGOTIATION:
                self._log(ActivityType.CALL, "Pricing call", "Seats, term and discount.", outcome="connected")
            elif stage == Stage.WON:
                self._log(ActivityType.MEETING, "Contract review", "Went through the order form with legal.")
                reason = "Contract signed"
            elif stage == Stage.LOST:
                reason = loss_reason = rng.choice(LOSS_REASONS)
            elif stage == Stage.NEW:  # re-opened after a loss
                self._log(ActivityType.CALL, "Re-engaged", "They called back: the project is on again.")
                reason = "Re-opened: they came back"
            self._add("transition", to_stage=stage, reason=reason)
            # A few email threads: the proposal of some deals went out by email (every won deal has its
            # paper trail), and now and then an early lead asked for a written follow-up.
            if stage == Stage.PROPOSAL and (Stage.WON in path[index:] or rng.random() < 0.25):
                replies = rng.choice((1, 1, 2, 3))
                self._add("email_thread", timed=1 + replies, topic="proposal", replies=replies)
            elif stage == Stage.CONTACTED and self.has_email and rng.random() < 0.06:
                self._add("email_thread", timed=2, topic="follow_up", replies=1)
        # Closing notes, and the odd note on an open deal (a note counts as a contact: on open leads, where
        # last_contacted_at drives follow-ups, notes stay rare).
        if final == Stage.WON:
            self._add("note", body=rng.choice(WIN_NOTES))
        elif final == Stage.LOST and rng.random() < 0.7:
            self._add("note", body=f"Lost: {loss_reason}. Keep in touch for next year.")
        elif path and rng.random() < 0.12:
            self._add("note", body=rng.choice(OPEN_NOTES))

    def play(self, lead: Lead, timed: _Timed, clock: Clock) -> None:
        self.lead = lead
        for kind, arguments in self.steps:
            if kind != "email_thread":  # a thread sets the clock for each of its messages
                clock.set(timed.next())
            # unassigned leads are worked by whoever triages
            actor = self.owner or self.team.lead()
            if kind == "assign":
                self.owner = arguments["owner"]
                self.lead = lead_services.lead_update(
                    lead_id=self.lead.pk, actor=self.team.lead(), changes={"owner_id": arguments["owner"].pk}
                )
            elif kind == "log":
                activity_services.activity_log(
                    lead_id=self.lead.pk,
                    actor=actor,
                    type=arguments["type"],
                    subject=arguments["subject"],
                    body=arguments["body"],
                    metadata=arguments["metadata"],
                    occurred_at=timezone.now(),
                )
            elif kind == "transition":
                self.lead = lead_services.lead_transition(
                    lead_id=self.lead.pk,
                    to_stage=arguments["to_stage"],
                    actor=actor,
                    reason=arguments["reason"],
                )
            elif kind == "revalue":
                # whole hundreds, with the two decimals the column stores
                value = Decimal(int(self.lead.value * Decimal(arguments["factor"])) // 100 * 100)
                value = value.quantize(Decimal("0.01"))
                self.lead = lead_services.lead_update(
                    lead_id=self.lead.pk, actor=actor, changes={"value": value}
                )
            elif kind == "email_thread":
                self._email_thread(
                    actor, topic=arguments["topic"], replies=arguments["replies"], timed=timed, clock=clock
                )
            elif kind == "note":
                lead_services.note_create(lead_id=self.lead.pk, actor=actor, body=arguments["body"])

    def _email_thread(
        self, actor: User | None, *, topic: str, replies: int, timed: _Timed, clock: Clock
    ) -> None:
        """Our email and the back-and-forth that followed, threaded by In-Reply-To and References."""
        if actor is None:
            ours = f"sales@{self.slug}.example"
        else:
            ours = f"{actor.full_name} <{actor.email}>" if actor.full_name else actor.email
        theirs = f"{self.lead.name} <{self.lead.email}>"
        subject, bodies = EMAIL_THREADS[topic]
        subject = subject.format(company=self.lead.company or self.lead.name)
        references: list[str] = []
        for index in range(1 + replies):
            inbound = index % 2 == 1
            # deterministic ids: re-recording the same message would be recognized, not stored twice
            message_id = f"<demo-{self.slug}-{self.number}-{topic}-{index}@mail.{self.slug}.example>"
            clock.set(timed.next())
            activity_services.email_record(
                lead_id=self.lead.pk,
                actor=actor,
                fields={
                    "from": theirs if inbound else ours,
                    "to": ours if inbound else theirs,
                    "subject": f"Re: {subject}" if index else subject,
                    "body": bodies[min(index, len(bodies) - 1)],
                    "date": timezone.now(),
                    "message_id": message_id,
                    "in_reply_to": references[-1:],
                    "references": references,
                },
            )
            references.append(message_id)
