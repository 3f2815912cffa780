"""Reads the web pages need beyond the apps' own selectors: the board's columns, the dashboard's figures and
keyset pages. Each builds on the apps' selectors (so visibility rules apply once) and costs a constant
number of queries whatever the data size."""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate, TruncWeek, Upper
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from shared_apps.core.errors import InvalidInput
from shared_apps.http.permissions import has_role
from shared_apps.users.models import Role, User
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.currency.selectors import RATE_FIELD, rate_on
from tenant_apps.leads.models import CONVERTED_WHILE_OPEN, OPEN_STAGES, TRANSITIONS, Lead, Stage
from tenant_apps.leads.selectors import lead_list
from tenant_apps.opportunities.stage_labels import lead_stage_labels
from tenant_apps.records import visibility
from tenant_apps.tasks.exceptions import TaskNotFound
from tenant_apps.tasks.models import Task
from tenant_apps.tasks.selectors import task_list
from tenant_apps.web import custom_values
from tenant_apps.web.models import DEFAULT_COLUMNS, LIST_RECORD_TYPES, LISTS, ListColumns

CARDS_PER_STAGE = 20
PAGE_SIZE = 25
STALE_DAYS = 14  # an open lead this long in its stage is marked stale on the board


# ---- money ---------------------------------------------------------------------------------------------

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def money(amount: Any, currency: str) -> str:
    """'$12,300' for the common currencies, '12,300 CHF' otherwise; cents only when there are some."""
    value = Decimal(amount or 0)
    text = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def totals_text(totals: dict[str, Decimal], default_currency: str) -> str:
    """A column's total: one amount per currency found in it (amounts in different currencies are never
    added together), the organization's currency first."""
    totals = {code: amount for code, amount in totals.items() if amount}
    if not totals:
        return money(0, default_currency)
    ordered = sorted(totals.items(), key=lambda item: (item[0] != default_currency, item[0]))
    return " + ".join(money(amount, currency) for currency, amount in ordered)


def task_for_write(*, actor: User, task_id: int) -> None:
    """A task whose record the member may see, else 404 (a hidden lead's or deal's task is not revealed)."""
    if not visibility.record_visible(actor, "task", task_id):
        raise TaskNotFound(id=task_id)


# ---- the board -----------------------------------------------------------------------------------------


@dataclass
class Figures:
    """Leads of one currency: how many, their amount in it, the part of it in the base currency (at the rate
    of each lead's creation day) and the leads without such a rate (`unconverted`: in no base total)."""

    count: int = 0
    amount: Decimal = Decimal(0)
    base_amount: Decimal = Decimal(0)
    unconverted_count: int = 0
    unconverted_amount: Decimal = Decimal(0)

    def add(self, other: Figures) -> None:
        self.count += other.count
        self.amount += other.amount
        self.base_amount += other.base_amount
        self.unconverted_count += other.unconverted_count
        self.unconverted_amount += other.unconverted_amount


@dataclass
class Column:
    stage: str
    label: str
    count: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)  # per currency, in that currency
    total_text: str = ""
    cards: list[Lead] = field(default_factory=list)
    currencies: dict[str, Figures] = field(default_factory=dict)

    @property
    def base_total(self) -> Decimal:
        """In the base currency; the leads without a rate for their day add nothing (see `unconverted`)."""
        return sum((figures.base_amount for figures in self.currencies.values()), Decimal(0))

    @property
    def unconverted(self) -> int:
        return sum(figures.unconverted_count for figures in self.currencies.values())

    @property
    def hidden(self) -> int:
        """Leads of the stage beyond the cards shown."""
        return max(0, self.count - len(self.cards))

    @property
    def next_cursor(self) -> str:
        """Where the column's "load more" starts ("" when every card is shown)."""
        if not self.hidden or not self.cards:
            return ""
        last = self.cards[-1]
        return encode_cursor(last.stage_changed_at, last.pk)


def pipeline_leads(actor: User, filters: dict[str, Any] | None = None) -> QuerySet[Lead]:
    """The actor's visible live leads on the board (narrowed by the board's owner and tag filters): those
    converted while open have left it (their money is their deal's now)."""
    return lead_list(actor=actor, filters=filters).exclude(CONVERTED_WHILE_OPEN)


def stage_summary(
    *, actor: User, default_currency: str, filters: dict[str, Any] | None = None
) -> dict[str, Column]:
    """Count and total value of the actor's visible live leads per stage, every stage listed (one query)."""
    labels = lead_stage_labels()
    columns = {stage: Column(stage=stage, label=labels[stage]) for stage in Stage.values}
    missing = Q(rate__isnull=True)
    rows = (
        pipeline_leads(actor, filters)
        .select_related(None)
        .order_by()
        .annotate(record_day=TruncDate("created_at"), code=Upper("currency"))
        .annotate(rate=rate_on(currency_field="currency", on_date="record_day"))
        .values("stage", "code")
        .annotate(
            count=Count("id"),
            total=Sum("value"),
            base=Sum(F("value") * F("rate"), output_field=RATE_FIELD),
            unconverted_count=Count("id", filter=missing),
            unconverted=Sum("value", filter=missing),
        )
    )
    for row in rows:
        column, code = columns[row["stage"]], row["code"]
        column.count += row["count"]
        column.totals[code] = column.totals.get(code, Decimal(0)) + (row["total"] or 0)
        column.currencies.setdefault(code, Figures()).add(
            Figures(
                count=row["count"],
                amount=row["total"] or Decimal(0),
                base_amount=row["base"] or Decimal(0),
                unconverted_count=row["unconverted_count"],
                unconverted_amount=row["unconverted"] or Decimal(0),
            )
        )
    for column in columns.values():
        column.total_text = totals_text(column.totals, default_currency)
    return columns


def board(
    *,
    actor: User,
    default_currency: str,
    filters: dict[str, Any] | None = None,
    summary: dict[str, Column] | None = None,
) -> list[Column]:
    """The Kanban: every stage with its count and total (`summary`, else counted live: `stage_summary`), and
    its most recently moved cards (at most CARDS_PER_STAGE each; the rest a column loads on demand,
    `column_page`). The cards are one query: per stage its latest ids (a short range of the board's column
    index, `lead_board_column_idx`, whatever the stage's size), all stages' lists in one UNION ALL."""
    columns = (
        summary
        if summary is not None
        else stage_summary(actor=actor, default_currency=default_currency, filters=filters)
    )
    leads = pipeline_leads(actor, filters)
    latest = [
        leads.filter(stage=stage).order_by("-stage_changed_at", "-id").values("pk")[:CARDS_PER_STAGE]
        for stage in columns
    ]
    chosen = latest[0].union(*latest[1:], all=True)
    for lead in leads.filter(pk__in=chosen).order_by("stage", "-stage_changed_at", "-id"):
        columns[lead.stage].cards.append(lead)
    return list(columns.values())


def column_page(
    *, actor: User, stage: str, filters: dict[str, Any] | None = None, cursor: str | None = None
) -> Page:
    """A column's next cards after `cursor`, in the board's order (latest moved first; one query)."""
    leads = pipeline_leads(actor, filters).filter(stage=stage)
    return keyset_page(leads, cursor=cursor, size=CARDS_PER_STAGE, at="stage_changed_at")


def is_stale(lead: Lead, now: datetime | None = None) -> bool:
    """An open lead that has sat in its stage STALE_DAYS or more."""
    if lead.stage not in OPEN_STAGES:
        return False
    return (now or timezone.now()) - lead.stage_changed_at >= timedelta(days=STALE_DAYS)


@dataclass
class Destination:
    label: str
    name: str
    kind: str  # the web's record kind (accounts, contacts, opportunities)
    record_id: int


def conversion_destinations(*, actor: User, lead: Lead) -> list[Destination]:
    """What a converted lead became, among what the actor may see (a record they may not see is not named):
    the account, the contact and the deal, each one query."""
    found = []
    for label, kind, policy, record_id in (
        ("Account", "accounts", "account", lead.converted_account_id),
        ("Contact", "contacts", "contact", lead.converted_contact_id),
        ("Opportunity", "opportunities", "opportunity", lead.converted_opportunity_id),
    ):
        if record_id is None:
            continue
        record = visibility.records_for(policy, actor).filter(pk=record_id).only("id", "name").first()
        if record is not None:
            found.append(Destination(label=label, name=record.name, kind=kind, record_id=record.pk))
    return found


def forward_stage(stage: str) -> str | None:
    """The next step along the pipeline (reopening for LOST); None for WON."""
    return next((option for option in TRANSITIONS[stage] if option != Stage.LOST), None)


# ---- keyset pages --------------------------------------------------------------------------------------


def encode_cursor(at: datetime, record_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{record_id}".encode()).decode().rstrip("=")


def decode_cursor(value: str, *, name: str = "cursor") -> tuple[datetime, int]:
    """The (timestamp, id) a page starts after; a cursor that was not ours is a 400 naming the parameter."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        at_text, id_text = raw.rsplit("|", 1)
        at, record_id = parse_datetime(at_text), int(id_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(name, "Invalid cursor.") from None
    if at is None or not 0 < record_id < 2**63:
        raise InvalidInput(name, "Invalid cursor.")
    return at, record_id


@dataclass
class Page:
    rows: list[Any]
    next_cursor: str | None


def keyset_page(
    rows: QuerySet[Any],
    *,
    cursor: str | None,
    size: int = PAGE_SIZE,
    at: str = "created_at",
    descending: bool = True,
) -> Page:
    """`size` rows ordered by (`at`, id), newest first unless not `descending`, after the cursor, and the
    cursor of the next page (one query: a row more than the page tells whether there is a next page)."""
    if cursor:
        after_at, after_id = decode_cursor(cursor)
        beyond = "lt" if descending else "gt"
        rows = rows.filter(
            Q(**{f"{at}__{beyond}": after_at}) | Q(**{at: after_at, f"id__{beyond}": after_id})
        )
    sign = "-" if descending else ""
    found = list(rows.order_by(f"{sign}{at}", f"{sign}id")[: size + 1])
    page, more = found[:size], len(found) > size
    last = page[-1] if page else None
    return Page(page, encode_cursor(getattr(last, at), last.pk) if more and last is not None else None)


# ---- the dashboard -------------------------------------------------------------------------------------

STEPS = tuple(zip(OPEN_STAGES, (*OPEN_STAGES[1:], Stage.WON), strict=True))
CONVERSION_DAYS = 90
TREND_WEEKS = 12


@dataclass
class Step:
    from_stage: str
    to_stage: str
    exits: int
    advanced: int

    @property
    def rate(self) -> float | None:
        return self.advanced / self.exits if self.exits else None


@dataclass
class Conversion:
    days: int
    steps: list[Step]
    won: int
    lost: int

    @property
    def win_rate(self) -> float | None:
        return self.won / (self.won + self.lost) if self.won + self.lost else None


def _stage_changes(actor: User, since: datetime) -> QuerySet[Activity]:
    visible = visibility.leads_for(actor).alive().values("pk")
    return Activity.objects.filter(type=ActivityType.STAGE_CHANGE, occurred_at__gte=since, lead__in=visible)


def conversion(*, actor: User, days: int = CONVERSION_DAYS, now: datetime | None = None) -> Conversion:
    """Stage changes of the last `days` days on the leads the actor sees (one query): each forward step's
    share of the leads that left its stage, and won / (won + lost)."""
    since = (now or timezone.now()) - timedelta(days=days)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    rows = (
        _stage_changes(actor, since)
        .order_by()
        .values(source=KT("metadata__from"), target=KT("metadata__to"))
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts[(row["source"], row["target"])] += row["n"]
    steps = [
        Step(
            from_stage=source,
            to_stage=target,
            exits=sum(n for (origin, _), n in counts.items() if origin == source),
            advanced=counts.get((source, target), 0),
        )
        for source, target in STEPS
    ]
    won = sum(n for (_, target), n in counts.items() if target == Stage.WON)
    lost = sum(n for (_, target), n in counts.items() if target == Stage.LOST)
    return Conversion(days=days, steps=steps, won=won, lost=lost)


@dataclass
class Week:
    start: datetime
    created: int = 0
    won: int = 0


def weekly_trend(*, actor: User, weeks: int = TREND_WEEKS, now: datetime | None = None) -> list[Week]:
    """Leads created and leads won per week over the last `weeks` weeks, oldest first (two queries)."""
    now = timezone.localtime(now or timezone.now())
    this_week = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    first = this_week - timedelta(weeks=weeks - 1)
    series = {
        first + timedelta(weeks=index): Week(start=first + timedelta(weeks=index)) for index in range(weeks)
    }
    created = (
        lead_list(actor=actor)
        .select_related(None)
        .filter(created_at__gte=first)
        .annotate(week=TruncWeek("created_at"))
        .order_by()
        .values("week")
        .annotate(n=Count("id"))
    )
    for row in created:
        if row["week"] in series:
            series[row["week"]].created = row["n"]
    won = (
        _stage_changes(actor, first)
        .filter(metadata__to=Stage.WON)
        .annotate(week=TruncWeek("occurred_at"))
        .order_by()
        .values("week")
        .annotate(n=Count("id"))
    )
    for row in won:
        if row["week"] in series:
            series[row["week"]].won = row["n"]
    return list(series.values())


def overdue_tasks(*, actor: User, limit: int = 10) -> list[Task]:
    """Open tasks past their due date, soonest overdue first: a manager's whole team's, anyone else's own."""
    filters: dict[str, Any] = {"overdue": True}
    if not has_role(actor, Role.MANAGER):
        filters["assignee"] = "me"
    tasks = task_list(actor=actor, filters=filters)
    return list(tasks.order_by("due_at", "id")[:limit])


def offered_columns(list_name: str) -> list[str]:
    """The columns a list may show: its own, and its record type's custom fields (custom.<key>)."""
    own = list(LISTS[list_name])
    return own + [key for key, _label in custom_values.column_choices(LIST_RECORD_TYPES[list_name])]


def list_columns(*, actor: User, list_name: str) -> list[str]:
    """The columns the member chose for a list (those still offered: a deleted custom field's column goes),
    else the list's defaults."""
    chosen = ListColumns.objects.filter(member=actor, list_name=list_name).values_list("columns", flat=True)
    found = chosen.first()
    if found is None:
        return list(DEFAULT_COLUMNS[list_name])
    if not any(str(key).startswith("custom.") for key in found):
        return list(found)
    offered = set(offered_columns(list_name))
    return [key for key in found if key in offered]


def members() -> QuerySet[User]:
    """Active members, for owner and assignee choices."""
    return User.objects.filter(is_active=True).only("id", "email", "full_name").order_by("full_name", "email")
