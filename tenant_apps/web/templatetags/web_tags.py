from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django import template
from django.utils import timezone
from django.utils.formats import date_format

from tenant_apps.accounts.models import AccountStatus
from tenant_apps.activities.models import ActivityType
from tenant_apps.leads.models import Stage
from tenant_apps.notifications.models import Notification
from tenant_apps.opportunities.models import OpportunityStage
from tenant_apps.opportunities.stage_labels import lead_stage_labels
from tenant_apps.web import custom_values, selectors

register = template.Library()


@register.filter
def money(amount: Any, currency: str = "USD") -> str:
    return selectors.money(amount, currency or "USD")


_read_labels: ContextVar[dict[str, str] | None] = ContextVar("web_lead_stage_labels", default=None)


@contextmanager
def stage_labels_read_once() -> Iterator[dict[str, str]]:
    """Within it `stage_label` uses the labels read once on entry: a board renders some 140 cards with a
    few stage options each, and a cache round trip per option was most of the page's time."""
    labels = lead_stage_labels()
    token = _read_labels.set(labels)
    try:
        yield labels
    finally:
        _read_labels.reset(token)


@register.filter
def stage_label(stage: str) -> str:
    """A lead stage's label as the organization calls it (admins rename them; the stages stay)."""
    return (_read_labels.get() or lead_stage_labels()).get(stage, stage)


@register.filter
def percent(ratio: float | None) -> str:
    return "\u2013" if ratio is None else f"{ratio * 100:.0f}%"


@register.filter
def who(user: Any) -> str:
    """A member's name, or their email when they have none."""
    if user is None:
        return "nobody"
    return str(getattr(user, "full_name", "") or getattr(user, "email", ""))


@register.filter
def initials(user: Any) -> str:
    name = who(user)
    if user is None:
        return "\u2013"
    parts = [part for part in name.replace("@", " ").replace(".", " ").split() if part]
    return "".join(part[0] for part in parts[:2]).upper()


@register.filter
def days(seconds: float) -> str:
    value = seconds / 86_400
    return f"{value:.0f} d" if value >= 1 else f"{seconds / 3600:.0f} h"


@register.filter
def forward_stage(stage: str) -> str:
    """The next step along the pipeline ("" for WON)."""
    return selectors.forward_stage(stage) or ""


def _label(value: Any, *choices: Any) -> str:
    """A stage's or status's name (leads', deals' or accounts'), else the value as it is."""
    for enum in choices:
        try:
            return str(enum(value).label)
        except ValueError:
            continue
    return str(value)


@register.filter
def activity_title(activity: Any) -> str:
    """What a timeline entry says: stage and status changes in words ("Moved from Contacted to Qualified")
    rather than the codes their subjects were written with; else the subject, else the type's name."""
    metadata = activity.metadata or {}
    if activity.type in (ActivityType.STAGE_CHANGE, ActivityType.STATUS_CHANGE) and metadata.get("to"):
        kinds = (AccountStatus,) if activity.type == ActivityType.STATUS_CHANGE else (Stage, OpportunityStage)
        verb = "Status changed" if activity.type == ActivityType.STATUS_CHANGE else "Moved"
        target = _label(metadata["to"], *kinds)
        if metadata.get("from"):
            return f"{verb} from {_label(metadata['from'], *kinds)} to {target}"
        return f"{verb} to {target}"
    return str(activity.subject or activity.get_type_display())


@register.filter
def unread_notifications(user: Any) -> int:
    """The member's unread notifications for the top bar's bell, counted up to 100 (the badge says 99+)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient=user, read_at__isnull=True)[:100].count()


@register.filter
def age(moment: Any) -> str:
    """How long ago, compactly: '3 d', '5 h', '0 h'."""
    if moment is None:
        return ""
    return days(max(0.0, (timezone.now() - moment).total_seconds()))


@register.filter
def stale(lead: Any) -> bool:
    return selectors.is_stale(lead)


@register.simple_tag(takes_context=True)
def lead_cell(context: Any, lead: Any, key: str) -> str:
    """A lead's value for one column of the lead list, as text."""
    if key.startswith(custom_values.PREFIX):
        return custom_values.cell("lead", lead, key, _names(context))
    value: Any = getattr(lead, key, "")
    if key == "stage":
        return stage_label(value)
    if key == "value":
        return money(value, lead.currency)
    if key == "owner":
        return who(lead.owner)
    if key == "tags":
        return ", ".join(value or [])
    if key == "source":
        return str(lead.get_source_display()) if value else ""
    if key in ("created_at", "stage_changed_at", "last_contacted_at"):
        return date_format(timezone.localtime(value), "M j, Y") if value else "\u2013"
    return str(value or "")


@register.simple_tag(takes_context=True)
def deal_cell(context: Any, deal: Any, key: str) -> str:
    """A deal's value for one column of the deal table, as text."""
    if key.startswith(custom_values.PREFIX):
        return custom_values.cell("opportunity", deal, key, _names(context))
    value: Any = getattr(deal, key, "")
    if key == "stage":
        return deal.pipeline_stage.name
    if key == "amount":
        return money(value, deal.currency)
    if key == "probability":
        return f"{value}%"
    if key in ("owner", "account", "pipeline", "primary_contact"):
        return who(value) if key == "owner" else getattr(value, "name", "") or "\u2013"
    if key == "tags":
        return ", ".join(value or [])
    if key == "expected_close_date":
        return date_format(value, "M j, Y") if value else "\u2013"
    if key == "created_at":
        return date_format(timezone.localtime(value), "M j, Y") if value else "\u2013"
    return str(value or "")


def _names(context: Any) -> custom_values.Names:
    """Member names read once per request (a page of rows or cards asks for many)."""
    holder = context.get("request") or context
    names = getattr(holder, "_custom_member_names", None)
    if names is None:
        names = custom_values.Names()
        holder._custom_member_names = names
    return names


@register.simple_tag(takes_context=True)
def card_values(context: Any, lead: Any) -> list[custom_values.Shown]:
    """The values of the lead fields the admins put on the board's cards."""
    return custom_values.shown("lead", lead, _names(context), card=True)


@register.simple_tag(takes_context=True)
def custom_shown(context: Any, record_type: str, record: Any) -> list[custom_values.Shown]:
    """A record's custom values in human form (the record pages' Details)."""
    return custom_values.shown(record_type, record, _names(context))


@register.filter
def steps_done(steps: list[Any]) -> int:
    return sum(1 for step in steps if step.done)


@register.filter
def steps_left(steps: list[Any]) -> int:
    return sum(1 for step in steps if not step.done)
